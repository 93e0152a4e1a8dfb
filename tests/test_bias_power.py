"""The bias analysis finds a planted gap and stays quiet without one, over seeds, with the command's own tests."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.bias import attributes, group_tests
from analysis.bias_power import PowerArguments, main, power_and_calibration, rejections, simulate
from famous_persona.errors import DataError
from sampling.world.synthetic import WorldConfig, make_world

SEEDS = 60


@pytest.mark.slow
def test_planted_gap_is_found_with_power():
    """Power is near 0.95 at the default planted strength (measured over 200 seeds); 0.8 leaves room for chance."""
    planted = rejections(PowerArguments(seeds=SEEDS))
    assert planted["group"].mean() >= 0.8


@pytest.mark.slow
def test_null_world_false_positives_stay_near_nominal():
    """With no tie, a family-wise rate at or below 0.05 gives at most the binomial 99th percentile of 60 seeds."""
    null = rejections(PowerArguments(seeds=SEEDS, bias_strength=0.0))
    familywise = int(((null["null"] > 0) | null["group"]).sum())
    assert familywise <= stats.binom.ppf(0.99, SEEDS, 0.05)


def test_simulated_minority_gains_more_from_a_persona():
    gains, traits = simulate(PowerArguments(people=400, bias_strength=0.5), seed=3)
    group = traits[traits["attribute"] == "group"].set_index("name")["group"]
    means = gains.set_index("name")["improvement"].groupby(group).mean()
    # majority: no-prefix right 0.75 of the time, minority 0.42 (noise-free); the persona is right 0.85 for both.
    assert means["minority"] - means["majority"] == pytest.approx(0.333 * 0.9, abs=0.06)
    assert (group == "minority").sum() == 100


def test_power_settings_are_checked():
    with pytest.raises(DataError, match="categories"):
        power_and_calibration(PowerArguments(categories=2, seeds=1))


def test_command_prints_measured_numbers(capsys):
    main(["--seeds", "3", "--people", "20"])
    out = capsys.readouterr().out
    assert "seeds=3" in out and "people=20" in out
    assert {line.split(":")[0] for line in out.splitlines()[1:]} == {
        "power",
        "false_positive_familywise",
        "false_positive_per_test",
        "null_attributes_flagged_in_planted",
    }


def _world_gains(world, majority: dict[str, str]) -> pd.DataFrame:
    """Per person, gold persona accuracy minus a no-prefix model's that always prefers the majority's category."""
    rng = random.Random(0)
    scores: dict[str, list[float]] = {}
    for pair in world.pairs():
        if pair.split != "test" or pair.question_type != "divergent":
            continue
        meta = pair.meta or {}
        favourite = majority[meta["world_axis"]]
        plain = 1.0 if meta["chosen_category"] == favourite else 0.0 if meta["rejected_category"] == favourite else None
        plain = float(rng.random() < 0.5) if plain is None else plain
        scores.setdefault(pair.name, []).append((0.0 if meta["flipped"] else 1.0) - plain)
    return pd.DataFrame(
        [
            {
                "model": "world",
                "trainer": "dpo",
                "fold_scheme": "fold",
                "train_method": "persona_gold",
                "baseline": "no_prefix",
                "fold": 0,
                "name": name,
                "improvement": float(np.mean(values)),
            }
            for name, values in scores.items()
        ]
    )


@pytest.mark.slow
@pytest.mark.parametrize("strength", [0.6, 0.0])
def test_planted_world_ground_truth_gap_is_found_only_when_planted(tmp_path, strength):
    config = WorldConfig(
        out=str(tmp_path / "w"),
        people=60,
        axes=4,
        personal_per_person=2,
        divergent_per_person=16,
        divergent_per_axis=16,
        bias_strength=strength,
        seed=2,
    )
    world = make_world(config)
    people = world.personas()
    majority = {axis: Counter(p.axes[axis] for p in people).most_common(1)[0][0] for axis in people[0].axes}
    traits = attributes(people)
    # religion and politics are the persona axes themselves, so they do move the gain; the rest are drawn apart
    traits = traits[traits["attribute"].isin(["group", "race", "sexual_preference", "economic_status"])]
    tests = group_tests(_world_gains(world, majority), traits)
    flagged = set(tests.loc[tests["significant"], "attribute"])
    assert flagged == ({"group"} if strength else set())


@pytest.mark.slow
def test_power_rises_with_the_planted_strength():
    weak, strong = (rejections(replace(PowerArguments(seeds=20), bias_strength=s))["group"].mean() for s in (0.2, 0.7))
    assert strong > weak
