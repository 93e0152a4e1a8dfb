"""A training run killed with SIGKILL resumes from its last complete checkpoint when the same command runs again, and
only with the settings it was started with."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from famous_persona.io import read_json
from training import common, dpo, resume

ROOT = Path(__file__).resolve().parents[1]


def _command(world, tiny_model, run_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "training.dpo",
        "--data",
        str(world.root),
        "--method",
        "xyw_2s",
        "--fold",
        "0",
        "--output_dir",
        str(run_dir),
        "--model_name_or_path",
        str(tiny_model),
        "--use_cpu",
        "true",
        "--bf16",
        "false",
        "--num_train_epochs",
        "40",
        "--per_device_train_batch_size",
        "2",
        "--eval_strategy",
        "steps",
        "--eval_steps",
        "10",
        "--save_steps",
        "10",
        "--logging_steps",
        "5",
        "--report_to",
        "none",
        "--disable_tqdm",
        "true",
        "--learning_rate",
        "1e-3",
    ]


def _checkpoints(run_dir: Path) -> list[int]:
    return sorted(int(p.name.split("-")[-1]) for p in run_dir.glob("checkpoint-*"))


LONG_ENOUGH = ["--max_steps", "300"]
"""Far more steps than run in the half second between the first checkpoint and the kill (each tenth step evaluates
and saves), and few enough that the resumed run ends soon: 40 epochs alone are 800 steps."""


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_from_the_checkpoint(world, tiny_model, tmp_path):
    run_dir = tmp_path / "run"
    command = [*_command(world, tiny_model, run_dir), *LONG_ENOUGH]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not _checkpoints(run_dir) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    assert process.poll() is None, "the run finished before it could be interrupted"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    saved = _checkpoints(run_dir)
    assert saved and read_json(run_dir / "manifest.json")["status"] == "running"

    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = read_json(run_dir / "manifest.json")
    assert manifest["status"] == "finished"
    resumed = int(manifest["resumed_from"].split("-")[-1])
    assert resumed in saved and resumed > 0
    assert manifest["global_step"] > resumed
    assert "resuming from" in done.stderr
    assert (run_dir / "model" / "model.safetensors").is_file()
    assert not _checkpoints(run_dir)


FAST = ["--num_train_epochs", "1", "--max_steps", "4", "--eval_steps", "2", "--save_steps", "2"]


def _args(world, tiny_model, run_dir: Path, *extra: str) -> list[str]:
    """The in-process form of `_command`, four steps long with a checkpoint every two."""
    return [*_command(world, tiny_model, run_dir)[3:], *FAST, *extra]


@pytest.fixture(scope="module")
def interrupted(world, tiny_model, tmp_path_factory) -> Path:
    """A run that saved checkpoint-2 and checkpoint-4 and then died before it could finish."""
    run_dir = tmp_path_factory.mktemp("interrupted") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(common, "save_and_finish", lambda *args, **kwargs: None)
        dpo.main(_args(world, tiny_model, run_dir))
    assert _checkpoints(run_dir) == [2, 4] and read_json(run_dir / "manifest.json")["status"] == "running"
    return run_dir


@pytest.fixture
def run_dir(interrupted, tmp_path) -> Path:
    shutil.copytree(interrupted, tmp_path / "run")
    return tmp_path / "run"


def _fake_checkpoint(path: Path, files: list[str]) -> Path:
    path.mkdir(parents=True)
    for name in files:
        (path / name).write_text("{}")
    return path


def test_an_incomplete_checkpoint_is_skipped_and_kept(tmp_path, caplog):
    complete = _fake_checkpoint(tmp_path / "checkpoint-10", ["model.safetensors", "trainer_state.json", "optimizer.pt"])
    _fake_checkpoint(tmp_path / "checkpoint-20", ["config.json"])
    _fake_checkpoint(tmp_path / "checkpoint-30", ["adapter_model.safetensors", "optimizer.pt"])
    (tmp_path / "checkpoint-30" / "trainer_state.json").write_text('{"global_step": 3')
    assert resume.last_checkpoint(tmp_path) == str(complete)
    gaps = ["model weights", "trainer_state.json", "optimizer state"]
    assert resume.checkpoint_gaps(tmp_path / "checkpoint-20") == gaps
    assert "checkpoint-30 is incomplete (no trainer_state.json)" in caplog.text
    assert (tmp_path / "checkpoint-20").is_dir() and (tmp_path / "checkpoint-30").is_dir()
    assert resume.last_checkpoint(tmp_path / "absent") is None


@pytest.mark.slow
def test_a_run_killed_while_saving_resumes_from_the_newest_complete_checkpoint(world, tiny_model, run_dir, caplog):
    for name in ("optimizer.pt", "trainer_state.json"):
        (run_dir / "checkpoint-4" / name).unlink()
    _fake_checkpoint(run_dir / "checkpoint-6", ["config.json"])
    dpo.main(_args(world, tiny_model, run_dir, "--logging_steps", "1"))
    manifest = read_json(run_dir / "manifest.json")
    assert manifest["status"] == "finished" and manifest["resumed_from"] == "checkpoint-2"
    assert manifest["global_step"] == 4
    assert "checkpoint-6 is incomplete" in caplog.text and "checkpoint-4 is incomplete" in caplog.text


@pytest.mark.slow
def test_a_resume_with_changed_settings_is_refused_and_force_starts_over(world, tiny_model, run_dir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        dpo.main(_args(world, tiny_model, run_dir, "--learning_rate", "2e-3", "--beta", "0.2"))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "beta 0.1 -> 0.2; learning_rate 0.001 -> 0.002" in err[0] and "--force" in err[0]
    assert _checkpoints(run_dir) == [2, 4] and read_json(run_dir / "manifest.json")["status"] == "running"
    dpo.main(_args(world, tiny_model, run_dir, "--learning_rate", "2e-3", "--beta", "0.2", "--force"))
    manifest = read_json(run_dir / "manifest.json")
    assert manifest["status"] == "finished" and manifest["resumed_from"] is None
    assert manifest["config"]["DPOConfig"]["learning_rate"] == 2e-3
