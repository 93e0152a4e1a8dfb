"""The experiment scripts: help, bad options, and a smoke run whose dump aggregates; a rerun skips finished runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from planner.recipes import choose
from tests.support.world import build_world

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = [
    "demo.sh",
    "cv.sh",
    "axis_cv.sh",
    "per_person.sh",
    "faithfulness.sh",
    "prompt_baseline.sh",
    "vpl_cv.sh",
    "self_inference.sh",
    "real_model.sh",
]
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    command = ["bash", str(ROOT / "experiments" / script), *args]
    return subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True)


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_has_help(script):
    done = run(script, "--help")
    assert done.returncode == 0 and "usage" in done.stdout.lower()


def test_unknown_option_and_unknown_model_are_clear_errors(world, tmp_path):
    done = run("cv.sh", "--data", str(world.root), "--out", str(tmp_path), "--bogus", "1")
    assert done.returncode == 2 and "unknown option(s) ['--bogus', '1']" in done.stderr
    done = run("cv.sh", "--data", str(world.root), "--model", "nonesuch")
    assert done.returncode == 2 and "--model 'nonesuch' is neither a recipe" in done.stderr
    done = run("real_model.sh", "--data", str(world.root), "--out", str(tmp_path), "--max_train_pairs", "many")
    assert done.returncode == 2 and "--max-train-pairs: invalid int value: 'many'" in done.stderr
    done = run("real_model.sh", "--data", str(world.root), "--out", str(tmp_path), "--bogus", "1")
    assert done.returncode == 2 and "unknown option(s) ['--bogus', '1']" in done.stderr


@pytest.mark.parametrize("kind", ["recipe", "folder", "hub id"])
def test_model_is_a_recipe_a_model_folder_or_a_hub_id(kind, tiny_model):
    given = {"recipe": "smollm2", "folder": str(tiny_model), "hub id": "HuggingFaceTB/SmolLM2-135M-Instruct"}[kind]
    choice = choose(given)
    expected = {
        "recipe": ("smollm2", "experiments/configs/models/smollm2", None),
        "folder": (tiny_model.name, "experiments/configs/models/generic", str(tiny_model)),
        "hub id": ("SmolLM2-135M-Instruct", "experiments/configs/models/generic", given),
    }[kind]
    assert (choice.short, choice.recipe.as_posix(), choice.path) == expected


@pytest.mark.slow
def test_smoke_runs_aggregate_and_rerun_skips(world, tmp_path):
    out = tmp_path / "exp"
    done = run("cv.sh", "--smoke", "--data", str(world.root), "--out", str(out), "--methods", "tag", "--folds", "0")
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"fold 0 tag: \d+s; accuracy tag seen 0\.\d{3} unseen 0\.\d{3}", done.stdout), done.stdout
    done = run("prompt_baseline.sh", "--data", str(world.root), "--out", str(out), "--methods", "no_prefix", "tag")
    assert done.returncode == 0, done.stderr[-3000:]
    results = pd.read_csv(out / "results.csv")
    assert set(zip(results["train_method"], results["test_method"], strict=True)) == {
        ("tag", "tag"),
        ("none", "no_prefix"),
        ("none", "tag"),
    }
    assert set(results.loc[results["train_method"] == "none", "fold"]) == {-1}
    manifest = out / "tiny" / "dpo" / "tag" / "fold0" / "manifest.json"
    before = manifest.stat().st_mtime_ns
    again = run("cv.sh", "--smoke", "--data", str(world.root), "--out", str(out), "--methods", "tag", "--folds", "0")
    assert again.returncode == 0 and manifest.stat().st_mtime_ns == before
    assert "skipping" in (out / "tiny" / "dpo" / "tag" / "fold0" / "run.log").read_text()
    assert set(results["trainer"]) == {"dpo", "none"}


@pytest.mark.slow
def test_a_mixed_training_set_is_scored_with_each_of_its_methods(tmp_path):
    data = build_world(tmp_path / "world").root
    out = tmp_path / "exp"
    mix = "tag+name+persona_task_2s_from_persona_gold_ratio0.25"
    done = run("cv.sh", "--smoke", "--data", str(data), "--out", str(out), "--methods", mix, "--folds", "0")
    assert done.returncode == 0, done.stderr[-3000:]
    results = pd.read_csv(out / "results.csv")
    assert set(zip(results["train_method"], results["test_method"], strict=True)) == {(mix, "tag"), (mix, "name")}


@pytest.mark.slow
def test_self_inference_trains_refreshes_and_measures_persona_quality(tmp_path):
    data = build_world(tmp_path / "world").root
    out = tmp_path / "exp"
    done = run("self_inference.sh", "--smoke", "--data", str(data), "--out", str(out), "--tokens", "16")
    assert done.returncode == 0, done.stderr[-3000:]
    quality = pd.read_csv(out / "persona_quality_fold0.csv")
    assert quality.groupby("method").size().to_dict() == {
        "persona_xy_4s": 10,
        "persona_xy_4s_base": 10,
        "persona_xy_4s_self0": 10,
    }
    assert set(quality["seen"]) == {"seen", "unseen"}
    runs = list((out / "tiny" / "dpo").glob("*/fold0/refresh/log.jsonl"))
    assert len(runs) == 1 and len(runs[0].read_text().splitlines()) == 1
    results = pd.read_csv(out / "results.csv")
    assert set(results["test_method"]) == {"persona_xy_4s"}
