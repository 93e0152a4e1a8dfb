"""The experiment scripts: help, bad options, the plan of a mixed training set (a dry run), and one smoke run per
family: cv.sh with prompt_baseline.sh --behavioural into the same folder, whose dump aggregates and whose rerun skips
finished runs, and self_inference.sh."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from planner import plans
from planner.recipes import choose
from planner.run import RunOptions
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


@pytest.mark.slow
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


@pytest.fixture(scope="module")
def smoke(world, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, subprocess.CompletedProcess]:
    """One experiment folder written by cv.sh at smoke size (tag, fold 0), then prompt_baseline.sh --behavioural
    (no_prefix and tag); the folder and both runs."""
    out = tmp_path_factory.mktemp("smoke") / "exp"
    cv = run("cv.sh", "--smoke", "--data", str(world.root), "--out", str(out), "--methods", "tag", "--folds", "0")
    assert cv.returncode == 0, cv.stderr[-3000:]
    methods = ["--methods", "no_prefix", "tag", "--behavioural"]
    baseline = run("prompt_baseline.sh", "--data", str(world.root), "--out", str(out), *methods)
    assert baseline.returncode == 0, baseline.stderr[-3000:]
    return out, cv, baseline


@pytest.mark.slow
def test_smoke_runs_aggregate_and_rerun_skips(smoke, world):
    out, cv, _ = smoke
    assert re.search(r"fold 0 tag: \d+s; accuracy tag seen 0\.\d{3} unseen 0\.\d{3}", cv.stdout), cv.stdout
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
def test_prompt_baseline_with_behavioural_adds_the_judged_metrics(smoke):
    """Judged generations land in results.csv beside the reward accuracy of the same prompt-only runs."""
    out, _, baseline = smoke
    results = pd.read_csv(out / "results.csv")
    judged = results[results["metric"].str.startswith("gen_")]
    assert set(judged["metric"]) == {"gen_world_aligned", "gen_reference_aligned", "gen_reference_rouge_aligned"}
    assert set(judged["test_method"]) == {"no_prefix", "tag"} and set(judged["fold"]) == {-1}
    reward = results[(results["metric"] == "ref_free_avg") & (results["train_method"] == "none")]
    for metric in judged["metric"].unique():
        assert judged[judged["metric"] == metric]["n"].sum() == reward["n"].sum()
    table = pd.read_csv(out / "analysis" / "behaviour_correlation.csv")
    assert set(table["behaviour"]) == set(judged["metric"]) and "gen_world_aligned" in baseline.stdout
    assert (out / "analysis" / "behaviour_gen_world_aligned.png").is_file()


def test_a_mixed_training_set_is_planned_to_be_scored_with_each_of_its_methods(world, tmp_path):
    """The plan, from cv.sh's dry run: one model on the mix, scored with each single method in it, whose rows are
    baked before the steps are keyed. Training and scoring on a mix run in tests/test_training_sets.py."""
    mix, out = "tag+name+persona_task_2s_from_persona_gold_ratio0.25", tmp_path / "exp"
    done = run("cv.sh", "--smoke", "--data", str(world.root), "--out", str(out), "--methods", mix, "--folds", "0",
               "--dry_run")  # fmt: skip
    assert done.returncode == 0, done.stderr
    steps = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("new")]
    trained = [f"tiny/dpo/{mix}/fold0/{step}" for step in ("sft", "dpo", "score/tag", "score/name")]
    assert steps == [*trained, "analysis/cv/aggregate"]
    plan, _, _ = plans.build(RunOptions(plan="cv", smoke=True, data=str(world.root), out=str(out), methods=[mix]))
    assert mix in plans.needed_methods(plan, world.root)
    assert not out.exists()


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
