"""The quality families persona_r{recall}p{precision}: built by the templated backend, baked with the persona
lead-in, and measured by analysis.persona_quality at the recall and precision they were set to."""

from __future__ import annotations

import math

import pytest

from analysis.persona_quality import attribute_scores, stated_facts
from famous_persona.errors import DataError
from famous_persona.families import quality_family
from famous_persona.io import read_rows
from famous_persona.methods import parse_method
from famous_persona.wording import default_wording
from sampling.prefixes.bake import bake
from sampling.prefixes.build import write_prefixes
from sampling.world.synthetic import WorldConfig, make_world

SETTINGS = [(25, 100), (50, 100), (75, 100), (100, 100), (100, 50)]


@pytest.fixture(scope="module")
def quality_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("quality")
    config = WorldConfig(
        out=str(root),
        people=200,
        axes=4,
        axes_per_person=4,
        personal_per_person=2,
        divergent_per_person=2,
        divergent_per_axis=2,
        seed=5,
    )
    dataset = make_world(config)
    methods = [quality_family(r, p) for r, p in SETTINGS]
    write_prefixes(dataset, [*methods, f"shuffle_{methods[1]}"])
    return dataset


@pytest.mark.parametrize(("recall", "precision"), SETTINGS)
def test_measured_quality_matches_the_setting(quality_world, recall, precision):
    """Pooled over people, correct facts / true axes is recall × precision and correct / stated is precision,
    within four binomial standard errors."""
    axes = {person.name: person.axes for person in quality_world.personas()}
    records = [r for r in quality_world.prefixes(quality_family(recall, precision)) if r.pair_id is None]
    assert len(records) == len(axes) and all(r.shots == [] and r.model == "template" for r in records)
    truths = sum(len(axes[r.name]) for r in records)
    stated = sum(len(stated_facts(r.text)) for r in records)
    correct = sum(round(attribute_scores(r.text, axes[r.name])[1] * len(axes[r.name])) for r in records)
    want_recall, want_precision = recall * precision / 1e4, precision / 100
    assert correct / truths == pytest.approx(
        want_recall, abs=4 * math.sqrt(want_recall * (1 - want_recall) / truths) + 1e-9
    )
    assert correct / stated == pytest.approx(
        want_precision, abs=4 * math.sqrt(want_precision * (1 - want_precision) / stated) + 1e-9
    )
    assert stated / truths == pytest.approx(recall / 100, abs=4 * math.sqrt(0.25 / truths))


def test_quality_personas_bake_with_the_persona_lead_and_shuffle(quality_world):
    method = quality_family(50, 100)
    bake(quality_world, [method, f"shuffle_{method}"])
    rows = read_rows(quality_world.root / "dpo" / method / "test.jsonl")
    assert rows and all(row["prompt"][0]["content"].startswith(default_wording()["lead_in"]) for row in rows)
    own = {r.name: r.text for r in quality_world.prefixes(method)}
    shuffled = {r.name: r.text for r in quality_world.prefixes(f"shuffle_{method}")}
    assert sorted(shuffled.values()) == sorted(own.values())
    assert sum(shuffled[name] != own[name] for name in own) > len(own) * 0.9


def test_a_quality_family_is_a_persona_and_takes_no_model():
    assert parse_method("persona_r75p100").persona and parse_method("persona_r75p100").kind == "active"
    with pytest.raises(DataError, match="templated backend"):
        parse_method("persona_r75p100_gpt4")
    with pytest.raises(DataError, match="unknown prefix method"):
        parse_method("persona_r30p100")
