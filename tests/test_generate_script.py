"""experiments/generate_dataset.sh: help, the dry-run estimate of a full regeneration, and the smoke config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def run(*args: str) -> subprocess.CompletedProcess:
    command = ["bash", str(ROOT / "experiments" / "generate_dataset.sh"), *args]
    return subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)


def test_help():
    done = run("--help")
    assert done.returncode == 0 and "--dry-run" in done.stdout


@pytest.mark.slow
def test_dry_run_of_the_full_config_sends_nothing(tmp_path):
    done = run("--config", "experiments/configs/generate/full.yaml", "--out", str(tmp_path / "x"), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("total:")
    assert not (tmp_path / "x").exists()


def test_missing_config_is_a_clear_error():
    done = run("--config", "experiments/configs/generate/nonesuch.yaml")
    assert done.returncode == 2 and "no config" in done.stderr
