"""The main table on hand-made scores with known answers."""

from __future__ import annotations

import json

import pytest

from analysis.aggregate import aggregate, collect
from famous_persona.io import write_json, write_jsonl


def _row(name, question_type, correct, seen):
    chosen, rejected = (-1.0, -2.0) if correct else (-2.0, -1.0)
    return {
        "id": f"{name}-{question_type}-{correct}-{seen}",
        "name": name,
        "question_type": question_type,
        "seen": seen,
        "fold": 0,
        "chosen_logp": chosen,
        "chosen_tokens": 1,
        "rejected_logp": rejected,
        "rejected_tokens": 1,
    }


def _eval_dir(root, method, rows):
    out = root / "m" / method / "fold0" / "eval" / method
    write_jsonl(out / "scores.jsonl", rows)
    write_json(
        out / "summary.json",
        {"experiment": "e", "model": "m", "train_method": method, "test_method": method, "fold": 0, "beta": 0.1},
    )


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
    assert unseen["people"] == 2
    assert unseen["Personal"].startswith("1.000")
    assert unseen["Divergent"].startswith("0.500")
    assert unseen["Total"].startswith("0.750")
    results = collect(tmp_path)
    assert len(results) == 5 * 2  # dpo_ref has no reference scores: only the two reference-free metrics
    assert (tmp_path / "results.csv").is_file()


def test_no_scores_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no summary.json"):
        collect(tmp_path)


def test_summary_identity_not_directory_names(tmp_path):
    _eval_dir(tmp_path, "tag", [_row("a", "personal", True, False)])
    summary = tmp_path / "m" / "tag" / "fold0" / "eval" / "tag" / "summary.json"
    data = json.loads(summary.read_text())
    data["train_method"] = "renamed"
    summary.write_text(json.dumps(data))
    assert set(collect(tmp_path)["train_method"]) == {"renamed"}
