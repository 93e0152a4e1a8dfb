"""A training run killed with SIGKILL resumes from its last checkpoint when the same command runs again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from famous_persona.io import read_json

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


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_from_the_checkpoint(world, tiny_model, tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        _command(world, tiny_model, run_dir),
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
    assert saved and not (run_dir / "manifest.json").exists()

    done = subprocess.run(_command(world, tiny_model, run_dir), cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = read_json(run_dir / "manifest.json")
    assert manifest["status"] == "finished"
    resumed = int(manifest["resumed_from"].split("-")[-1])
    assert resumed in saved and resumed > 0
    assert manifest["global_step"] > resumed
    assert "resuming from" in done.stderr
    assert (run_dir / "model" / "model.safetensors").is_file()
    assert not _checkpoints(run_dir)
