"""The synthetic world: determinism, no shortcut, label noise, planted bias, folds and persona texts of a quality."""

from __future__ import annotations

import filecmp
import hashlib
import json
import random
from collections import defaultdict

import pytest

from analysis.persona_quality import attribute_scores, stated_facts
from famous_persona import world_vocab as vocab
from famous_persona.errors import DataError
from famous_persona.personas import FoldError, split_people
from famous_persona.world_personas import persona_of_quality
from sampling.world.synthetic import WorldConfig, make_world
from tests.support.world import METHODS, build_world


def test_same_seed_gives_byte_identical_files(world, tmp_path):
    again = build_world(tmp_path / "again")
    files = sorted(p.relative_to(world.root) for p in world.root.rglob("*.jsonl"))
    assert len(files) == 2 + len(METHODS) * 3
    for relative in files:
        assert filecmp.cmp(world.root / relative, again.root / relative, shallow=False), relative


def test_another_seed_gives_another_world(world, tmp_path):
    other = build_world(tmp_path / "other", seed=4)
    assert other.pairs_path.read_bytes() != world.pairs_path.read_bytes()


def test_answers_are_equally_long_and_differ_only_in_category_words(world):
    for pair in world.pairs():
        chosen, rejected = pair.chosen.split(), pair.rejected.split()
        assert len(chosen) == len(rejected)
        assert sum(a != b for a, b in zip(chosen, rejected, strict=True)) == 3


def test_divergent_questions_have_different_winners_for_different_people(world):
    winners = defaultdict(set)
    for pair in world.pairs():
        if pair.question_type == "divergent":
            winners[pair.prompt].add(pair.chosen)
    assert sum(len(w) > 1 for w in winners.values()) > len(winners) / 2


def test_divergent_question_is_in_one_split_for_everyone(world):
    splits = defaultdict(set)
    for pair in world.pairs():
        if pair.question_type == "divergent":
            splits[pair.prompt].add(pair.split)
    assert all(len(s) == 1 for s in splits.values())


def test_label_noise_is_applied_and_recorded(tmp_path):
    dataset = make_world(WorldConfig(out=str(tmp_path / "noisy"), people=10, label_noise=0.2, seed=1))
    pairs = dataset.pairs()
    flipped = sum(pair.meta["flipped"] for pair in pairs)
    assert 0.1 < flipped / len(pairs) < 0.3
    for pair in pairs:
        assert (pair.meta["chosen_category"] != pair.meta["person_category"]) == pair.meta["flipped"]


def test_bad_world_config_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="label_noise"):
        make_world(WorldConfig(out=str(tmp_path / "w"), label_noise=0.7))


def test_fold_with_no_people_is_a_clear_error(world):
    with pytest.raises(FoldError, match="fold 7 has no people"):
        split_people(world.personas(), 7)
    seen, unseen = split_people(world.personas(), 0)
    assert unseen and seen and not set(seen) & set(unseen)


SMALL = {"people": 10, "personal_per_person": 6, "divergent_per_person": 8, "folds": 5, "seed": 0}
# sha256 of personas.jsonl and pairs.jsonl of the SMALL world as written before the planted-bias knobs existed.
BEFORE_PLANTING = (
    "d54579801256beb62e9f46f2d5749608faeb81663d6d25f3172a877c1b5eed24",
    "e02955dc6b96817673f0d5252c2d393befdadba40cee5ece23b54d7b3b635f9f",
)


def test_default_knobs_write_the_same_bytes_as_before_planting(tmp_path):
    world = make_world(WorldConfig(out=str(tmp_path / "w"), **SMALL))
    digests = tuple(hashlib.sha256(p.read_bytes()).hexdigest() for p in (world.personas_path, world.pairs_path))
    assert digests == BEFORE_PLANTING
    assert all("group" not in person.demographics for person in world.personas())
    assert "planted_bias" not in json.loads(world.manifest_path.read_text())


@pytest.mark.parametrize("strength", [0.4, 0.8])
def test_planted_world_matches_its_knobs(tmp_path, strength):
    config = WorldConfig(
        out=str(tmp_path / "w"),
        people=400,
        personal_per_person=2,
        divergent_per_person=2,
        bias_strength=strength,
        minority_share=0.3,
        seed=1,
    )
    world = make_world(config)
    planted = json.loads(world.manifest_path.read_text())["planted_bias"]
    people = world.personas()
    groups = [person.demographics["group"] for person in people]
    assert groups.count("minority") == 120 and planted["group_sizes"] == {"majority": 280, "minority": 120}
    assert planted["attribute"] == "group" and planted["strength"] == strength
    share = {}
    for group in ("majority", "minority"):
        members = [p for p in people if p.demographics["group"] == group]
        agree = [p.axes[axis] == key for p in members for axis, key in planted["majority_categories"].items()]
        share[group] = sum(agree) / len(agree)
    # 11 axes x 280 (or 120) people: the standard error is under 0.015, so 0.05 is over three of them.
    assert share["majority"] == pytest.approx(strength + (1 - strength) / 4, abs=0.05)
    assert share["minority"] == pytest.approx((1 - strength) / 4, abs=0.05)


def test_planted_knobs_are_checked(tmp_path):
    with pytest.raises(DataError, match="bias_strength"):
        make_world(WorldConfig(out=str(tmp_path / "w"), bias_strength=1.5))
    with pytest.raises(DataError, match="minority_share"):
        make_world(WorldConfig(out=str(tmp_path / "w"), bias_strength=0.5, minority_share=0.0))


@pytest.mark.parametrize(("recall", "precision"), [(0.25, 1.0), (0.5, 1.0), (0.75, 1.0), (1.0, 1.0), (1.0, 0.5)])
def test_persona_of_quality_measures_as_set(recall, precision):
    rng = random.Random(7)
    people = [{axis.name: rng.choice(axis.categories).key for axis in vocab.AXES} for _ in range(300)]
    stated = correct = truth = 0
    for axes in people:
        text = persona_of_quality(axes, recall, precision, rng)
        facts = stated_facts(text)
        assert {axis for axis, _ in facts} <= set(axes) and len({axis for axis, _ in facts}) == len(facts)
        stated, correct, truth = stated + len(facts), correct + len(facts & set(axes.items())), truth + len(axes)
        assert attribute_scores(text, axes)[1] == pytest.approx(len(facts & set(axes.items())) / len(axes))
        assert persona_of_quality(axes, recall, precision, random.Random(1)) == persona_of_quality(
            axes, recall, precision, random.Random(1)
        )
    # 3300 axes in all: the standard error of either share is below 0.01, so 0.03 is three of them.
    assert stated / truth == pytest.approx(recall, abs=0.03)
    assert correct / stated == pytest.approx(precision, abs=0.03)
    assert correct / truth == pytest.approx(recall * precision, abs=0.03)


def test_persona_of_quality_rejects_a_share_outside_zero_one():
    with pytest.raises(ValueError, match="recall"):
        persona_of_quality({"sports": "golf"}, 1.5, 1.0, random.Random(0))
