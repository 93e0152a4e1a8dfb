"""Bias statistics on simulated people with known group effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.bias import age_group, attributes, group_means, group_tests, improvements
from analysis.statistics import person_bootstrap
from famous_persona.errors import DataError
from famous_persona.schema import Persona


def _people(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Long attribute table: one planted attribute 'gender' and three attributes unrelated to the outcome."""
    rows = []
    for i in range(n):
        name = f"p{i}"
        rows.append({"name": name, "attribute": "gender", "group": "woman" if i % 2 else "man"})
        for attribute in ("race", "religion", "economic_status"):
            rows.append({"name": name, "attribute": attribute, "group": str(rng.integers(0, 3))})
    return pd.DataFrame(rows)


def _gains(traits: pd.DataFrame, effect: float, rng: np.random.Generator, prefixes=("tag", "xyw_2s")) -> pd.DataFrame:
    gender = traits[traits["attribute"] == "gender"].set_index("name")["group"]
    rows = []
    for prefix in prefixes:
        for name, group in gender.items():
            value = rng.normal(effect if group == "woman" else 0.0, 0.05)
            rows.append(
                {
                    "model": "m",
                    "trainer": "dpo",
                    "fold_scheme": "fold",
                    "train_method": prefix,
                    "baseline": "no_prefix",
                    "fold": 0,
                    "name": name,
                    "tuned": 0.5 + value,
                    "reference": 0.5,
                    "improvement": value,
                }
            )
    return pd.DataFrame(rows)


def test_planted_difference_is_found_and_only_there():
    rng = np.random.default_rng(1)
    traits = _people(30, rng)
    tests = group_tests(_gains(traits, 0.15, rng), traits)
    assert len(tests) == 2 * 4
    hits = tests[tests["significant"]]
    assert set(hits["attribute"]) == {"gender"} and len(hits) == 2
    assert (hits["eta2"] > 0.5).all() and (hits["p_kw_fdr_bh"] < 0.05).all()


def test_no_difference_nothing_significant():
    rng = np.random.default_rng(2)
    traits = _people(30, rng)
    tests = group_tests(_gains(traits, 0.0, rng), traits)
    assert not tests["significant"].any()
    assert (tests["p_anova_holm"] >= tests["p_anova"]).all()
    assert (tests["p_kw_fdr_bh"] >= 0.05).all()


def test_cluster_bootstrap_covers_truth_at_nominal_rate():
    """People differ (random effect) and each is seen in three folds: a person-clustered CI must still cover."""
    rng = np.random.default_rng(3)
    truth, covered, simulations = 0.1, 0, 200
    for _ in range(simulations):
        people = np.repeat(np.arange(25), 3)
        person_effect = rng.normal(0, 0.1, 25)[people]
        values = truth + person_effect + rng.normal(0, 0.02, len(people))
        _, low, high = person_bootstrap(values, people, 1000, rng)
        covered += low <= truth <= high
    assert 0.88 <= covered / simulations <= 0.99


def test_group_means_ci_contains_mean():
    rng = np.random.default_rng(4)
    traits = _people(20, rng)
    means = group_means(_gains(traits, 0.2, rng), traits, n_boot=200)
    assert ((means["ci_low"] <= means["mean"]) & (means["mean"] <= means["ci_high"])).all()
    women = means[(means["attribute"] == "gender") & (means["group"] == "woman")]
    assert (women["mean"] > 0.1).all()


def _result_rows(train, test, fold, name, seen, correct, n=4):
    return [
        {
            "experiment": "e",
            "model": "m",
            "trainer": "none" if train == "none" else "dpo",
            "train_method": train,
            "fold_scheme": "fold",
            "test_method": test,
            "fold": fold,
            "name": name,
            "seen": seen,
            "question_type": qt,
            "metric": "ref_free_avg",
            "n": n,
            "n_correct": correct,
            "accuracy": correct / n,
        }
        for qt in ("personal", "divergent")
    ]


def test_improvement_prefers_prompt_only_then_no_prefix():
    rows = (
        _result_rows("tag", "tag", 0, "a", False, 3)
        + _result_rows("none", "tag", -1, "a", False, 1)
        + _result_rows("no_prefix", "no_prefix", 0, "a", False, 2)
        + _result_rows("name", "name", 0, "a", False, 4)
        + _result_rows("name", "name", 0, "b", True, 4)
    )
    gains = improvements(pd.DataFrame(rows)).set_index("train_method")
    assert gains.loc["tag", "baseline"] == "prompt-only"
    assert gains.loc["tag", "improvement"] == pytest.approx(0.5)
    assert gains.loc["name", "baseline"] == "no_prefix"
    assert gains.loc["name", "improvement"] == pytest.approx(0.5)
    assert "no_prefix" not in gains.index


def test_age_bins_and_attributes():
    person = Persona(name="A", key="a", axes={}, fold=0, tag="t", demographics={"birth_year": 1990, "gender": None})
    assert age_group(1990, 2024) == "30-44" and age_group(2010, 2024) == "<30" and age_group(1900, 2024) == "60+"
    assert age_group("1990", 2024) is None
    assert attributes([person]).to_dict("records") == [{"name": "A", "attribute": "age", "group": "30-44"}]


def test_unknown_correction_is_a_data_error():
    with pytest.raises(DataError, match="correction"):
        group_tests(
            pd.DataFrame(columns=["model", "train_method", "baseline", "name", "improvement"]),
            pd.DataFrame(columns=["name", "attribute", "group"]),
            correction="bonferroni",
        )


def _frames(groups: dict[str, list[float]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    gains, traits = [], []
    for group, values in groups.items():
        for i, value in enumerate(values):
            name = f"{group}{i}"
            gains.append(
                {
                    "model": "m",
                    "trainer": "dpo",
                    "fold_scheme": "fold",
                    "train_method": "tag",
                    "baseline": "no_prefix",
                    "fold": 0,
                    "name": name,
                    "tuned": value,
                    "reference": 0.0,
                    "improvement": value,
                }
            )
            traits.append({"name": name, "attribute": "education_level", "group": group})
    return pd.DataFrame(gains), pd.DataFrame(traits)


@pytest.mark.parametrize(
    ("groups", "reason"),
    [
        ({"a": [0.1, 0.2, 0.3]}, "fewer than two groups"),
        ({"a": [0.1, 0.1, 0.1], "b": [0.1, 0.1]}, "no variance"),
        ({"a": [0.1, 0.1, 0.1], "b": [0.3, 0.3]}, "no variance within"),
    ],
)
def test_degenerate_designs_are_not_testable(groups, reason):
    tests = group_tests(*_frames(groups))
    row = tests.iloc[0]
    assert reason in row["untestable"]
    assert np.isnan(row[["F", "p_anova", "eta2", "H", "p_kw", "epsilon2", "p_anova_holm"]].to_numpy(float)).all()
    assert not row["significant"]


@pytest.mark.slow
def test_groups_of_one_are_pooled_then_dropped_with_a_note():
    pooled = group_tests(*_frames({"a": [0.1, 0.2, 0.3], "b": [0.4, 0.5], "c": [0.9], "d": [0.8]})).iloc[0]
    assert pooled["note"] == "pooled into other (<2 people): c, d"
    assert pooled["groups"] == 3 and pooled["min_group"] == 2 and pooled["untestable"] == ""
    assert 0 <= pooled["eta2"] <= 1 and np.isfinite(pooled["F"])
    dropped = group_tests(*_frames({"a": [0.1, 0.2, 0.3], "b": [0.4, 0.5], "c": [0.9]})).iloc[0]
    assert dropped["note"] == "dropped (<2 people): c" and dropped["groups"] == 2 and dropped["people"] == 5
    lone = group_tests(*_frames({"a": [0.1, 0.2, 0.3], "b": [0.4]}), min_size=1).iloc[0]
    assert lone["untestable"] == "a group of one person" and np.isnan(lone["F"])


@pytest.mark.slow
def test_untestable_rows_do_not_enter_the_correction():
    rng = np.random.default_rng(5)
    traits = _people(30, rng)
    gains = _gains(traits, 0.15, rng, prefixes=("tag",))
    constant = pd.DataFrame({"name": traits["name"].unique(), "attribute": "country", "group": "x"})
    both = group_tests(gains, pd.concat([traits, constant]))
    alone = group_tests(gains, traits)
    assert both.loc[both["attribute"] == "country", "untestable"].item() == "fewer than two groups"
    testable = both[both["untestable"] == ""].reset_index(drop=True)
    assert np.allclose(testable["p_anova_holm"], alone["p_anova_holm"])
