"""Every benchmark in the repository, run through its `main` with the options a user types after `python -m module`,
in this process (the imports are the worker's already, so each takes seconds) and at its smallest size: it must end
without an error status and print its `name=value` figures with numbers in them, so a change elsewhere that breaks a
benchmark fails in the quick loop instead of when someone next measures. The figures themselves are not judged (the
CPUs running the tests may be busy), only that they exist and are sane. Benchmarks: tests/support/bench_concurrency.py
(generation against the scripted server), evaluation/benchmark.py (the fast against the naive scorer),
tests/support/bench_planner.py (the planner's dry run and status, each its own process by design) and
tests/support/bench_real_server.py (the small-model config against `transformers serve`; its quick size runs only the
part against the scripted server with faults)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from evaluation import benchmark
from tests.support import bench_concurrency, bench_planner, bench_real_server, fake_plan

ROOT = Path(__file__).resolve().parents[1]
# The benchmarks the tests below run; a module named *bench* that is not here fails the last test.
COVERED = {
    "tests/support/bench_concurrency.py",
    "evaluation/benchmark.py",
    "tests/support/bench_planner.py",
    "tests/support/bench_real_server.py",
}


def run_benchmark(main: Callable[[list[str]], None], capsys, *args: object) -> list[str]:
    """The lines a benchmark's `main(args)` prints, after checking that it did not exit with an error status."""
    capsys.readouterr()
    try:
        main([str(arg) for arg in args])
    except SystemExit as stop:
        assert stop.code in (0, None), f"{main.__module__} {' '.join(map(str, args))} exited {stop.code}"
    return capsys.readouterr().out.strip().splitlines()


def figures(lines: list[str]) -> dict[str, float]:
    """`name=value` lines as numbers; a value may be followed by a remark after a space (`peak_rss_mb=80 (...)`)."""
    found = {}
    for line in lines:
        name, sep, value = line.partition("=")
        if sep and name.isidentifier():
            found[name] = float(value.split()[0])
    return found


def test_the_concurrency_benchmark_prints_its_figures_at_quick_size(capsys):
    lines = run_benchmark(bench_concurrency.main, capsys, "--quick")
    names = [line.partition("=")[0] for line in lines]
    assert names == [
        "requests",
        "latency_s",
        "concurrency",
        "seconds_serial",
        "seconds_concurrent",
        "speedup_bound",
        "bound_fraction",
        "concurrency_speedup",
    ], lines
    found = figures(lines)
    assert found["requests"] == 32 and found["concurrency"] == 8
    # One request at a time cannot beat the server's latency summed over every request.
    assert found["seconds_serial"] >= found["requests"] * found["latency_s"]
    assert found["seconds_concurrent"] > 0 and found["speedup_bound"] == 8
    assert found["concurrency_speedup"] > 0 and found["bound_fraction"] > 0


def test_the_concurrency_benchmark_refuses_a_partial_question(capsys):
    with pytest.raises(SystemExit) as stopped:
        bench_concurrency.main(["--quick", "--requests", "12"])
    assert stopped.value.code == 2 and "multiple of 8" in capsys.readouterr().err


def test_the_scoring_benchmark_prints_its_figures_on_a_few_pairs(world, tiny_model, capsys):
    lines = run_benchmark(
        benchmark.main,
        capsys,
        *("--prefix", "xyw_2s", "--data", world.root, "--model", tiny_model),
        *("--max_pairs", 4, "--repeats", 1, "--batch_size", 8),
    )
    assert "pairs: 4 from" in "\n".join(lines)
    assert any(line.startswith("naive: ") and "pairs/s" in line for line in lines)
    assert any(line.startswith("fast: ") and "pairs/s" in line for line in lines)
    assert lines[-1].startswith("speedup=")
    found = figures(lines)
    assert {"bound_fraction", "peak_rss_mb", "speedup"} <= found.keys(), lines
    assert found["speedup"] > 0 and found["bound_fraction"] > 0 and found["peak_rss_mb"] > 0


def test_the_planner_benchmark_prints_the_grid_and_the_status_time(world, tmp_path, capsys):
    (tmp_path / "input.txt").write_text("x\n")
    assert fake_plan.run(tmp_path) == 0
    lines = run_benchmark(bench_planner.main, capsys, "--data", world.root, "--status", tmp_path / "exp")
    found = figures(lines)
    assert found["grid_runs"] == 35 and found["grid_gpus"] == 8
    assert found["grid_runs_per_gpu_max"] - found["grid_runs_per_gpu_min"] <= 1
    assert found["status_exit"] == 0 and found["status_rows"] == 5 and found["status_seconds"] > 0


def test_the_real_server_benchmark_prints_its_figures_at_quick_size(capsys):
    found = figures(run_benchmark(bench_real_server.main, capsys, "--quick"))
    assert found["faults_injected"] > 0 and found["faults_served_twice"] == 0
    assert found["faults_exit_first"] in (0, 3) and found["faults_exit_rerun"] in (0, 3)
    assert found["faults_requests_sent"] > 0 and 0 <= found["faults_pairs"] <= found["faults_target"]
    usable = [value for name, value in found.items() if name.startswith("faults_usable_")]
    assert len(usable) == 4 and all(0 <= value <= 1 for value in usable)


def test_every_benchmark_in_the_repository_is_run_here():
    """A new benchmark (a module named *bench*) needs a test above, and a listed one that moved needs its test moved."""
    found = {
        path.relative_to(ROOT).as_posix()
        for top in ROOT.iterdir()
        if top.is_dir() and not top.name.startswith(".") and top.name not in ("data", "dump")
        for path in top.rglob("*bench*.py")
    }
    assert found - {"tests/test_benchmarks.py"} == COVERED
