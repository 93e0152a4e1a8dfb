"""The distributed path on CPU: two gloo processes through `accelerate launch` train the same model as one process,
with full weights (the tiny model) and with LoRA under activation checkpointing (SmolLM2-135M)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.score import ScoreArguments, score
from famous_persona.errors import DataError
from famous_persona.io import read_json, read_rows
from training import dpo

ROOT = Path(__file__).resolve().parents[1]
SMOLLM2 = ROOT / "models" / "smollm2-135m-instruct"
LORA_CHECKPOINTED = (
    *("--use_peft", "true", "--lora_r", "4", "--lora_alpha", "8", "--lora_dropout", "0"),
    *("--lora_target_modules", "q_proj", "v_proj", "--activation_checkpointing", "true"),
    *("--max_length", "128", "--max_train_pairs", "2", "--logging_steps", "1", "--learning_rate", "1.0"),
)
"""LoRA on two projections under activation checkpointing, on 2 short rows: dropout off, so both runs draw nothing."""
LORA_TOLERANCE = 1e-4
"""Largest relative difference between the one-process and two-process runs' logged loss and gradient norm, and
their LoRA weights (relative to each tensor's largest value): the runs add the same float32 terms in another order."""


def free_port() -> int:
    """A port no one listens on now, so parallel runs of the suite never collide."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _train(
    world,
    model: Path,
    run_dir: Path,
    fold: int,
    processes: int,
    rows: int,
    method: str = "persona_gold",
    steps: int = 1,
    extra: tuple[str, ...] = (),
) -> None:
    """Plain SGD steps, each over all training rows: the same update whether the batch is split over ranks or not.
    Two processes go through `accelerate launch`; one trains here, in the test's process."""
    per_device = rows // processes
    args = [
        "--data",
        str(world.root),
        "--method",
        method,
        "--fold",
        str(fold),
        "--output_dir",
        str(run_dir),
        "--model_name_or_path",
        str(model),
        "--use_cpu",
        "true",
        "--bf16",
        "false",
        "--per_device_train_batch_size",
        str(per_device),
        "--max_steps",
        str(steps),
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
        *extra,
    ]
    if processes == 1:
        dpo.main(args)
        return
    config = ROOT / "experiments/accelerate/cpu_2proc.yaml"
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
    launcher += ["--main_process_port", str(free_port()), "-m", "training.dpo"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([*launcher, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_two_processes_train_the_same_model_as_one(world, tiny_model, tmp_path):
    from training.run_data import RunArguments, fold_data

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


@pytest.fixture(scope="module")
def smollm2() -> Path:
    """The converted SmolLM2-135M-Instruct (`famous-persona fetch-model smollm2`), made once where it is missing."""
    if not (SMOLLM2 / "config.json").is_file():
        from famous_persona.model_assets import fetch

        try:
            fetch("smollm2", SMOLLM2)
        except DataError as missing:
            pytest.skip(str(missing))
    return SMOLLM2


def _lora_weights(run_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(run_dir / "model" / "adapter_model.safetensors")


@pytest.mark.slow
def test_lora_with_activation_checkpointing_trains_the_same_over_two_processes(world, smollm2, tmp_path):
    """DDP over a PEFT model whose layers recompute their activations: the gradients of the LoRA weights must reach
    the all-reduce once each, so two SGD steps on 2 rows split 1 + 1 log the loss and gradient norm of one process
    (step 1's loss is ln 2, the adapter starting as a no-op; step 2's follows the first update) and leave its
    adapter."""
    logged, weights = {}, {}
    for processes in (1, 2):
        run_dir = tmp_path / f"p{processes}"
        _train(world, smollm2, run_dir, 0, processes, 2, "no_prefix", 2, LORA_CHECKPOINTED)
        manifest = read_json(run_dir / "manifest.json")
        assert manifest["processes"] == processes and manifest["global_step"] == 2
        assert manifest["config"]["DPOConfig"]["activation_checkpointing"]
        steps = [row for row in read_rows(run_dir / "train_log.jsonl") if "loss" in row]
        logged[processes] = [value for row in steps for value in (row["loss"], row["grad_norm"])]
        weights[processes] = _lora_weights(run_dir)
    assert len(logged[1]) == 4 and logged[1][2] != logged[1][0], "step 2 must learn from step 1"
    assert logged[2] == pytest.approx(logged[1], rel=LORA_TOLERANCE)
    assert weights[1].keys() == weights[2].keys() and any("lora_B" in key for key in weights[1])
    for key, one in weights[1].items():
        scale = one.abs().max().item()
        assert scale > 0, f"{key} is zero: no gradient reached it"
        assert (one - weights[2][key]).abs().max().item() <= LORA_TOLERANCE * scale, key
