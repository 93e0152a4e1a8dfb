"""Attribution: the fit finds a planted sentence; the model path produces one weight per sentence; the settings come
from the trained run; the held-out people are explained; sentences are typed for the success-vs-failure contrast."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.attribution import (
    AttributionArguments,
    attribute,
    contrast,
    dealt,
    gold_overlap,
    run_attribution,
    sentence_kind,
    split_sentences,
)
from analysis.report_attribution import attribution_runs, contrast_html, contrast_table
from famous_persona.errors import DataError
from famous_persona.io import write_json, write_jsonl
from famous_persona.schema import DpoRecord, Message
from tests.support.trained_run import trained_run

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


def _fake_scorer_factory(seen: list):
    """Margins that favour the prefix's first sentence, without a model; records the arguments it was built with."""

    def factory(args):
        seen.append(args)
        return lambda record, text: (
            lambda texts: np.array([1.0 if split_sentences(text)[0] in t else -0.5 for t in texts])
        )

    return factory


def test_attribution_takes_the_runs_settings_and_explains_its_held_out_people(world, tiny_model, tmp_path):
    model = trained_run(tmp_path, tiny_model, system_prompt="", fold=0)
    built: list = []
    args = AttributionArguments(model=model, data=str(world.root), test_method="persona_gold", max_pairs=4)
    summary = run_attribution(args, _fake_scorer_factory(built))
    (settled,) = built
    assert (settled.system_prompt, settled.max_length) == ("", 256)
    assert (summary["system_prompt"], summary["max_length"], summary["people"]) == ("", 256, "unseen")
    held_out = {person.name for person in world.personas() if person.fold == 0}
    rows = [json.loads(line) for line in (tmp_path / "run" / "attribution" / "persona_gold" / "weights.jsonl").open()]
    assert {row["name"] for row in rows} == held_out and summary["n_people"] == len(held_out)
    seen = run_attribution(
        AttributionArguments(**{**vars(args), "people": "seen", "out": str(tmp_path / "seen")}),
        _fake_scorer_factory([]),
    )
    seen_rows = [json.loads(line) for line in (tmp_path / "seen" / "weights.jsonl").open()]
    assert seen["people"] == "seen" and not {row["name"] for row in seen_rows} & held_out


def test_pairs_are_dealt_one_person_at_a_time(world):
    records = world.dpo("persona_gold", "test")
    names = {records[0].name, records[-1].name}
    picked = dealt(records, names, 3)
    assert len(picked) == 3 and {r.name for r in picked[:2]} == names
    assert all(r.name in names for r in dealt(records, names, 100))


def _pair(chosen: str, rejected: str) -> DpoRecord:
    return DpoRecord(
        id="p",
        name="n",
        question_type="personal",
        axis="diet",
        prompt=[Message(role="user", content="prefix\n\nWhat should I cook tonight?")],
        chosen=[Message(role="assistant", content=chosen)],
        rejected=[Message(role="assistant", content=rejected)],
    )


def test_sentences_are_typed_by_what_they_share_with_the_pair():
    record = _pair("Roast some vegetables with lentils.", "Grill a steak with butter.")
    question = "What should I cook tonight?"
    assert sentence_kind("They love vegetables and lentils.", record, question) == "chosen"
    assert sentence_kind("Steak is their favourite.", record, question) == "rejected"
    assert sentence_kind("They cook every night.", record, question) == "question"
    assert sentence_kind("They live by the sea.", record, question) == "unrelated"


def _typed(correct: bool, weights: list[float], kinds: list[str]) -> dict:
    top = int(np.argmax(weights))
    return {"id": "p", "correct": correct, "weights": weights, "kinds": kinds, "top": top, "sentences": ["a", "b"],
            "full_margin": 1.0 if correct else -1.0, "r2": 0.5}  # fmt: skip


def test_the_contrast_tells_which_kind_carries_the_win_and_the_loss(tmp_path):
    rows = [
        _typed(True, [0.8, 0.1], ["chosen", "unrelated"]),
        _typed(True, [0.6, -0.2], ["chosen", "rejected"]),
        _typed(False, [0.1, 0.7], ["chosen", "rejected"]),
    ]
    won, lost = contrast(rows[:2]), contrast(rows[2:])
    assert won["chosen"] == {"weight": pytest.approx(0.7), "top": 1.0}
    assert lost["rejected"] == {"weight": pytest.approx(0.7), "top": 1.0}
    out = tmp_path / "exp" / "tiny" / "persona_gold" / "fold0" / "attribution" / "persona_gold"
    write_jsonl(out / "weights.jsonl", rows)
    write_json(out / "summary.json", {"test_method": "persona_gold"})
    runs = attribution_runs(tmp_path / "exp")["persona_gold"]
    table = contrast_table(runs).set_index("sentence kind")
    assert table.loc["chosen", "weight, correct"] == pytest.approx(0.7)
    assert table.loc["rejected", "top share, wrong"] == 1.0 and table.loc["chosen", "correct pairs"] == 2
    markup = contrast_html("persona_gold", runs, tmp_path / "figures")
    assert 'src="figures/attribution_contrast_persona_gold.png"' in markup
    assert (tmp_path / "figures" / "attribution_contrast_persona_gold.png").stat().st_size > 0
    write_jsonl(out / "weights.jsonl", [{k: v for k, v in row.items() if k != "kinds"} for row in rows])
    assert "No typed sentences" in contrast_html("persona_gold", runs, tmp_path / "none")
