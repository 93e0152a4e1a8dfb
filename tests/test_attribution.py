"""Attribution: the fit finds a planted sentence; the model path produces one weight per sentence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.attribution import AttributionArguments, attribute, gold_overlap, run_attribution, split_sentences
from famous_persona.errors import DataError

SENTENCES = [
    "The user lives by the sea. ",
    "They enjoy long walks. ",
    "They only eat plants and never meat. ",
    "Their favourite colour is green. ",
    "They read a lot.\n",
    "They work nights.",
]


def test_split_sentences_keeps_layout():
    text = "".join(SENTENCES)
    assert split_sentences(text) == SENTENCES
    assert split_sentences("Line one\n\nLine two.") == ["Line one\n\n", "Line two."]
    assert split_sentences("   ") == []


def test_planted_sentence_ranks_first():
    rng = np.random.default_rng(0)
    noise = np.random.default_rng(1)

    def scorer(texts):
        return np.array([(1.5 if SENTENCES[2] in t else 0.0) - 0.2 + noise.normal(0, 0.1) for t in texts])

    weights, full, _, r2 = attribute(SENTENCES, scorer, 64, 0.01, rng)
    assert int(np.argmax(weights)) == 2
    assert weights[2] == pytest.approx(1.5, abs=0.2)
    assert np.abs(np.delete(weights, 2)).max() < 0.15
    assert full > 1.0 and r2 > 0.9


def test_no_signal_gives_no_weight():
    rng = np.random.default_rng(0)
    weights, _, _, r2 = attribute(SENTENCES, lambda texts: np.full(len(texts), 0.3), 32, 0.01, rng)
    assert not weights.any() and r2 == 0.0


def test_gold_overlap():
    assert gold_overlap("They only eat plants", "This user eats only plants") == pytest.approx(2 / 3)
    assert gold_overlap("a b", "anything") == 0.0


def test_end_to_end_tiny_model(world, tiny_model, tmp_path):
    args = AttributionArguments(
        model=str(tiny_model),
        data=str(world.root),
        test_method="persona_gold",
        out=str(tmp_path),
        max_pairs=3,
        n_ablations=8,
        batch_size=8,
    )
    summary = run_attribution(args)
    rows = [json.loads(line) for line in (tmp_path / "weights.jsonl").read_text().splitlines()]
    assert summary["pairs"] == len(rows) == 3 - summary["skipped"]
    for row in rows:
        assert len(row["weights"]) == len(row["sentences"]) >= 2
        assert 0 <= row["top"] < len(row["sentences"]) and 0 <= row["top_gold_overlap"] <= 1
    assert summary["correct"]["pairs"] + summary["wrong"]["pairs"] == summary["pairs"]
    assert json.loads((tmp_path / "summary.json").read_text()) == summary


def test_prefix_without_sentences_is_a_data_error(world, tiny_model, tmp_path):
    args = AttributionArguments(model=str(tiny_model), data=str(world.root), test_method="no_prefix", out=str(tmp_path))
    with pytest.raises(DataError, match="no_prefix.jsonl"):
        run_attribution(args, scorer_factory=lambda _: None)
