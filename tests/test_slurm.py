"""The Slurm executor against a real single-node cluster (tests/support/slurm.py): a smoke plan as arrays on two
fake GPUs, each task seeing only its own, with results identical to the local executor's; a request the cluster
refuses is one line and exit 2. Skipped where Slurm is not installed (`make test` installs it), except in CI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from famous_persona.errors import exit_on_data_error
from planner.executors import slots
from planner.ledger import Ledger
from planner.run import RunOptions, carry_out
from tests.support import fake_plan
from tests.support.slurm import Cluster, missing

ROOT = Path(__file__).resolve().parents[1]
IDENTITY = ["experiment", "config_hash", "base_model"]  # the folder and its paths, not the numbers


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    lacking = missing()
    if lacking:
        reason = f"no Slurm here (missing {', '.join(lacking)}; `make slurm` installs it as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    started = Cluster(tmp_path_factory.mktemp("slurm")).start()
    yield started
    started.stop()


def run_cv(out: Path, data: Path, env: dict, *extra: str) -> subprocess.CompletedProcess:
    command = ["famous-persona", "run", "cv", "--smoke", "--data", str(data), "--out", str(out)]
    command += ["--methods", "tag", "no_prefix", "--folds", "0", *extra]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_a_smoke_plan_runs_as_arrays_on_two_fake_gpus_as_the_local_executor_does(cluster, world, tmp_path):
    env = {**cluster.env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    started = time.time()
    on_slurm = run_cv(tmp_path / "slurm", world.root, env, "--executor", "slurm", "--gpus_per_run", "1")
    assert on_slurm.returncode == 0, on_slurm.stdout[-2000:] + on_slurm.stderr[-2000:]
    print(f"slurm_smoke_seconds={time.time() - started:.1f}")
    assert "submitted 2 run(s) as array(s)" in on_slurm.stdout and "results:" in on_slurm.stdout
    ledger = Ledger(tmp_path / "slurm")
    devices = {ledger.read(f"tiny/dpo/{m}/fold0/dpo")["cuda_visible_devices"] for m in ("tag", "no_prefix")}
    assert devices == {"0", "1"}
    local = run_cv(tmp_path / "local", world.root, env)
    assert local.returncode == 0, local.stderr[-2000:]
    slurm_rows = pd.read_csv(tmp_path / "slurm" / "results.csv").drop(columns=IDENTITY)
    local_rows = pd.read_csv(tmp_path / "local" / "results.csv").drop(columns=IDENTITY)
    pd.testing.assert_frame_equal(slurm_rows, local_rows)


@pytest.mark.slow
def test_a_request_the_cluster_refuses_is_one_line_and_exit_2(cluster, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SLURM_CONF", cluster.env["SLURM_CONF"])
    (tmp_path / "input.txt").write_text("x\n")
    options = RunOptions(plan="fake", executor="slurm", gpus_per_run=3)

    def submit() -> int:
        return carry_out(fake_plan.plan(tmp_path), options, slots(0, 1, 1), time.time())

    with pytest.raises(SystemExit) as exit_info:
        exit_on_data_error(submit)()
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and "\nerror: slurm refused the request: sbatch: error:" in error
    assert "Requested node configuration is not available" in error
    assert not (tmp_path / "tally").exists()
