"""The main table on hand-made scores with known answers."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from analysis.aggregate import COLUMNS, aggregate, collect, paired_comparisons, read_results
from famous_persona.errors import DataError
from famous_persona.io import write_json, write_jsonl


def _row(name, question_type, correct, seen, fold=0):
    chosen, rejected = (-1.0, -2.0) if correct else (-2.0, -1.0)
    return {
        "id": f"{name}-{question_type}-{correct}-{seen}",
        "name": name,
        "question_type": question_type,
        "seen": seen,
        "fold": fold,
        "chosen_logp": chosen,
        "chosen_tokens": 1,
        "rejected_logp": rejected,
        "rejected_tokens": 1,
    }


def _eval_dir(root, method, rows, fold=0, scheme="fold", base="org/base"):
    run = root / "m" / method / f"{scheme}{fold}"
    out = run / "eval" / method
    write_jsonl(out / "scores.jsonl", rows)
    summary = {"experiment": "e", "model": "m", "train_method": method, "test_method": method, "fold": fold}
    write_json(out / "summary.json", {**summary, "fold_scheme": scheme, "beta": 0.1})
    write_json(run / "manifest.json", {"base_model": base, "config": {"fold": fold, "scheme": scheme}})


def test_table_means_over_people(tmp_path):
    rows = [
        _row("a", "personal", True, False),
        _row("a", "divergent", False, False),
        _row("b", "personal", True, False),
        _row("b", "divergent", True, False),
        _row("c", "personal", False, True),
    ]
    _eval_dir(tmp_path, "tag", rows)
    table = aggregate(tmp_path)
    unseen = table[table["seen"] == "unseen"].iloc[0]
    assert (unseen["n_people"], unseen["folds"], unseen["n_pairs"]) == (2, 1, 4)
    assert unseen["Personal"] == 1.0
    assert unseen["Divergent"] == 0.5
    assert unseen["Total"] == 0.75
    stored = pd.read_csv(tmp_path / "table.csv")
    assert stored["Total"].dtype == float and {"Total_low", "Total_high", "n_people", "n_pairs"} <= set(stored.columns)
    assert "0.750 [" in (tmp_path / "table.md").read_text()
    results = collect(tmp_path)
    assert len(results) == 5 * 2  # dpo_ref has no reference scores: only the two reference-free metrics
    assert (tmp_path / "results.csv").is_file()


def test_no_scores_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no summary.json"):
        collect(tmp_path)


def test_summary_identity_not_directory_names(tmp_path):
    _eval_dir(tmp_path, "tag", [_row("a", "personal", True, False)])
    summary = tmp_path / "m" / "tag" / "fold0" / "eval" / "tag" / "summary.json"
    data = json.loads(summary.read_text())
    data["train_method"] = "renamed"
    summary.write_text(json.dumps(data))
    assert set(collect(tmp_path)["train_method"]) == {"renamed"}


def test_interval_resamples_people_and_stays_in_unit_range(tmp_path):
    """Person a is right in both folds, b wrong in both: a t-interval over the four units would leave [0, 1]."""
    for fold in (0, 1):
        rows = [_row("a", "personal", True, False, fold), _row("b", "personal", False, False, fold)]
        _eval_dir(tmp_path, "tag", rows, fold=fold)
    row = aggregate(tmp_path, n_boot=500).iloc[0]
    assert (row["n_people"], row["folds"]) == (2, 2)
    assert row["Total"] == 0.5
    assert 0.0 <= row["Total_low"] < 0.5 < row["Total_high"] <= 1.0
    assert row["Total_low"] == 0.0 and row["Total_high"] == 1.0  # only whole people are drawn: 0, 0.5 or 1


def test_run_identity_columns_and_copies_counted_once(tmp_path):
    _eval_dir(tmp_path, "tag", [_row("a", "personal", True, False)])
    _eval_dir(tmp_path, "tag", [_row("a", "personal", False, False)], scheme="axis")
    shutil.copytree(tmp_path / "m", tmp_path / "copy" / "m")
    aggregate(tmp_path)
    results = read_results(tmp_path)
    assert list(results.columns) == COLUMNS and COLUMNS[-3:] == ["fold_scheme", "base_model", "config_hash"]
    assert sorted(results["fold_scheme"].unique()) == ["axis", "fold"]
    assert set(results["base_model"]) == {"org/base"}
    assert results["config_hash"].nunique() == 2
    assert len(results) == 2 * 2  # two runs (fold 0 and axis 0) × two metrics, the copies not counted


def test_paired_contrast_on_the_same_people(tmp_path):
    people = "abcdef"
    _eval_dir(tmp_path, "persona_gold", [_row(p, "personal", True, False) for p in people])
    _eval_dir(tmp_path, "no_prefix", [_row(p, "personal", p in "ab", False) for p in people])
    paired = paired_comparisons(collect(tmp_path), n_boot=500)
    row = paired.iloc[0]
    assert (row["method"], row["baseline"], row["n_people"]) == ("persona_gold", "no_prefix", 6)
    assert row["difference"] == pytest.approx(4 / 6)
    assert 0 < row["low"] <= row["difference"] <= row["high"] <= 1
    assert row["p"] < 0.2 and row["p_holm"] >= row["p"]


def test_a_copy_with_other_numbers_is_an_error_naming_both(tmp_path):
    _eval_dir(tmp_path, "tag", [_row("a", "personal", True, False)])
    shutil.copytree(tmp_path / "m", tmp_path / "copy" / "m")
    copied = tmp_path / "copy" / "m" / "tag" / "fold0" / "eval" / "tag"
    write_jsonl(copied / "scores.jsonl", [_row("a", "personal", False, False)])
    with pytest.raises(DataError, match="same run identity as .* but other numbers") as caught:
        collect(tmp_path)
    assert str(copied / "summary.json") in str(caught.value)
    assert str(tmp_path / "m" / "tag" / "fold0" / "eval" / "tag" / "summary.json") in str(caught.value)


def test_a_run_trained_again_elsewhere_keeps_its_identity(tmp_path):
    """The config hash leaves out paths and logging: the same run written to another directory is one run."""
    rows = [_row("a", "personal", True, False)]
    _eval_dir(tmp_path, "tag", rows)
    shutil.copytree(tmp_path / "m", tmp_path / "again" / "m")
    manifest = tmp_path / "again" / "m" / "tag" / "fold0" / "manifest.json"
    moved = json.loads(manifest.read_text())
    moved["config"] = {**moved["config"], "output_dir": "elsewhere", "logging_steps": 1}
    manifest.write_text(json.dumps(moved))
    assert len(collect(tmp_path)) == 2  # one run × the two reference-free metrics


def test_copied_behaviour_verdicts_are_counted_once(tmp_path):
    out = tmp_path / "m" / "tag" / "fold0" / "generate" / "tag"
    verdicts = [{"name": "a", "seen": False, "question_type": "personal", "metrics": {"gen_world_aligned": True}}]
    write_jsonl(out / "judge_world.jsonl", verdicts)
    summary = {"experiment": "e", "model": "m", "train_method": "tag", "test_method": "tag", "fold": 0}
    write_json(out / "judge_world_summary.json", {**summary, "judge": "world", "fold_scheme": "fold"})
    shutil.copytree(tmp_path / "m", tmp_path / "copy" / "m")
    results = collect(tmp_path)
    assert results["n"].tolist() == [1]


def test_base_model_is_followed_back_through_the_warm_up(tmp_path):
    warm_up = tmp_path / "m" / "tag" / "fold0" / "sft"
    write_json(warm_up / "manifest.json", {"base_model": "org/base", "config": {}})
    (warm_up / "model").mkdir(parents=True)
    _eval_dir(tmp_path, "tag", [_row("a", "personal", True, False)], base=str(warm_up / "model"))
    aggregate(tmp_path)
    assert set(read_results(tmp_path)["base_model"]) == {"org/base"}
