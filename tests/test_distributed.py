"""The distributed path on CPU: two gloo processes through `accelerate launch` train the same model as one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.score import ScoreArguments, score
from famous_persona.io import read_json

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A port no one listens on now, so parallel runs of the suite never collide."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _train(world, tiny_model, run_dir: Path, fold: int, processes: int, rows: int) -> None:
    """One plain SGD step over all training rows: the same update whether the batch is split over ranks or not."""
    per_device = rows // processes
    args = [
        "--data",
        str(world.root),
        "--method",
        "persona_gold",
        "--fold",
        str(fold),
        "--output_dir",
        str(run_dir),
        "--model_name_or_path",
        str(tiny_model),
        "--use_cpu",
        "true",
        "--bf16",
        "false",
        "--per_device_train_batch_size",
        str(per_device),
        "--max_steps",
        "1",
        "--learning_rate",
        "0.5",
        "--optim",
        "sgd",
        "--val_fraction",
        "0",
        "--report_to",
        "none",
        "--disable_tqdm",
        "true",
        "--seed",
        "0",
    ]
    launcher = [sys.executable, "-m", "accelerate.commands.launch"]
    if processes > 1:
        config = ROOT / "experiments/accelerate/cpu_2proc.yaml"
        launcher += ["--config_file", str(config), "--main_process_port", str(free_port())]
    else:
        launcher += ["--num_processes", "1", "--cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([*launcher, "-m", "training.dpo", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_two_processes_train_the_same_model_as_one(world, tiny_model, tmp_path):
    from training.common import RunArguments, fold_data

    def rows_of(fold: int) -> int:
        args = RunArguments(data=str(world.root), method="persona_gold", fold=fold, val_fraction=0)
        return len(fold_data(args, seed=0).train)

    fold = next(k for k in range(5) if rows_of(k) % 2 == 0)
    scores = {}
    for processes in (1, 2):
        run_dir = tmp_path / f"p{processes}"
        _train(world, tiny_model, run_dir, fold, processes, rows_of(fold))
        manifest = read_json(run_dir / "manifest.json")
        assert manifest["status"] == "finished" and manifest["processes"] == processes and manifest["global_step"] == 1
        out = tmp_path / f"eval{processes}"
        score(
            ScoreArguments(
                model=str(run_dir / "model"), data=str(world.root), test_method="persona_gold", fold=fold, out=str(out)
            )
        )
        scores[processes] = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    one, two = scores[1], scores[2]
    assert [r["id"] for r in one] == [r["id"] for r in two]
    for a, b in zip(one, two, strict=True):
        assert abs(a["chosen_logp"] - b["chosen_logp"]) < 1e-4 and abs(a["rejected_logp"] - b["rejected_logp"]) < 1e-4
    untrained = tmp_path / "base_eval"
    score(ScoreArguments(model=str(tiny_model), data=str(world.root), test_method="persona_gold", out=str(untrained)))
    base = [json.loads(line) for line in (untrained / "scores.jsonl").read_text().splitlines()]
    assert max(abs(a["chosen_logp"] - b["chosen_logp"]) for a, b in zip(one, base, strict=True)) > 1e-2


@pytest.mark.slow
def test_two_processes_share_the_scoring_and_every_pair_is_scored_once(world, tiny_model, tmp_path):
    out = tmp_path / "sharded"
    config = ROOT / "experiments/accelerate/cpu_2proc.yaml"
    launch = ["accelerate.commands.launch", "--config_file", str(config), "--main_process_port", str(free_port())]
    launcher = [sys.executable, "-m", *launch]
    args = [
        "-m",
        "evaluation.score",
        "--model",
        str(tiny_model),
        "--data",
        str(world.root),
        "--test_method",
        "xyw_2s",
        "--fold",
        "1",
        "--out",
        str(out),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([*launcher, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert read_json(out / "summary.json")["shards"] == 2
    assert not list(out.glob("shards/*"))
    single = tmp_path / "single"
    score(ScoreArguments(model=str(tiny_model), data=str(world.root), test_method="xyw_2s", fold=1, out=str(single)))
    two = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    one = [json.loads(line) for line in (single / "scores.jsonl").read_text().splitlines()]
    assert [r["id"] for r in two] == [r["id"] for r in one] and len({r["id"] for r in two}) == len(two)
    assert len(two) == len(world.dpo("xyw_2s", "test"))
    for a, b in zip(one, two, strict=True):
        assert a["seen"] == b["seen"]
        assert abs(a["chosen_logp"] - b["chosen_logp"]) < 1e-4 and abs(a["rejected_logp"] - b["rejected_logp"]) < 1e-4
