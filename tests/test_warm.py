"""A step forked from its warm worker (planner.warm) behaves as `python -m module args` would: its module runs as
`__main__` with its arguments, its output and errors reach the run's log, its exit status is the step's (a message, a
crash, a signal, Ctrl-C), the worker's exit and signal handlers stay the worker's; the worker loads only what the
step's module imports; a launched step, or any step beside an NVIDIA driver, is a new process."""

from __future__ import annotations

import json
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from planner import warm
from planner.execute import Worker
from planner.steps import Step

PROBE = """
    import json
    import os
    import signal
    import sys
    import warnings

    import warm_dependency

    print(json.dumps({"argv": sys.argv[1:], "name": __name__, "env": os.environ.get("FP_PROBE"),
                      "forked": "pytest" in sys.modules}))
    warnings.warn("a warning the step's environment silences")
    print("to stderr", file=sys.stderr)
    mode = sys.argv[1]
    if mode == "crash":
        raise RuntimeError("the stage broke")
    if mode == "message":
        sys.exit("a message for the log")
    if mode == "signal":
        os.kill(os.getpid(), signal.SIGTERM)
    if mode == "interrupt":
        os.kill(os.getpid(), signal.SIGINT)
    sys.exit(int(mode))
"""


@pytest.fixture
def probe(tmp_path, monkeypatch) -> Path:
    """Two modules on the path: the step, and a dependency that counts its imports in a file."""
    (tmp_path / "warm_probe.py").write_text(textwrap.dedent(PROBE))
    counter = tmp_path / "imports.txt"
    (tmp_path / "warm_dependency.py").write_text(f"open({str(counter)!r}, 'a').write('imported\\n')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "warm_dependency", raising=False)
    return tmp_path


def fork(args: list[str], log: Path) -> int:
    with log.open("a") as out:
        return warm.run("warm_probe", args, out.fileno(), {"FP_PROBE": "set", "PYTHONWARNINGS": "ignore"})


def test_a_fork_runs_the_module_as_main_with_its_arguments_environment_and_log(probe):
    log = probe / "run.log"
    assert fork(["3"], log) == 3
    lines = log.read_text().splitlines()
    assert json.loads(lines[0]) == {"argv": ["3"], "name": "__main__", "env": "set", "forked": True}
    assert lines[1:] == ["to stderr"], "the warning is silenced as PYTHONWARNINGS=ignore would"
    assert "FP_PROBE" not in os.environ


@pytest.mark.parametrize(
    ("mode", "code", "last"),
    [("0", 0, "to stderr"), ("message", 1, "a message for the log"), ("crash", 1, "RuntimeError: the stage broke"),
     ("signal", -signal.SIGTERM, "to stderr"), ("interrupt", 1, "KeyboardInterrupt")],
)  # fmt: skip
def test_the_exit_status_is_the_steps(probe, mode, code, last):
    log = probe / "run.log"
    assert fork([mode], log) == code
    assert log.read_text().splitlines()[-1] == last


def test_the_worker_loads_what_the_module_imports_and_not_the_module(probe):
    assert warm.top_imports("warm_probe") == ["json", "os", "signal", "sys", "warnings", "warm_dependency"]
    warm.preload("warm_probe", {})
    assert "warm_dependency" in sys.modules and "warm_probe" not in sys.modules
    fork(["0"], probe / "run.log")
    assert (probe / "imports.txt").read_text() == "imported\n", "the fork found the dependency loaded"


def step(probe: Path, launch: bool) -> Step:
    return Step("probe", "run", "score", "warm_probe", ["0"], str(probe), "", str(probe / "run.log"), launch=launch)


@pytest.mark.parametrize(
    ("launch", "driver", "forked"), [(False, False, True), (True, False, False), (False, True, False)]
)
def test_a_launched_step_or_one_beside_a_gpu_driver_is_a_new_process(probe, monkeypatch, launch, driver, forked):
    monkeypatch.setattr(warm, "NVIDIA_DRIVER", probe if driver else probe / "absent")
    monkeypatch.setenv("PYTHONPATH", str(probe))
    worker = Worker(launch=[sys.executable])
    log = probe / "run.log"
    with log.open("a") as out:
        assert worker.start(step(probe, launch), redo=False, out=out) == 0
    assert json.loads(log.read_text().splitlines()[0])["forked"] is forked
