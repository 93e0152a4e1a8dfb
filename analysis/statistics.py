"""The statistics every analysis shares (docs/design.md §11, §12): bootstraps that resample people, paired contrasts
on the same people, the faithfulness role of a test prefix, and how an interval is cut and read.

People are the unit of every interval: a person's folds, question types and prefixes move together in a resample,
so repeated measurements of one person never count as independent evidence. One seeded generator is passed through
a whole analysis, so its draws, and therefore its tables, are the same on every run.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from famous_persona.errors import DataError
from famous_persona.methods import parse_method

LEVEL = 0.95
"""Coverage of every interval the analysis reports."""
PERMUTATIONS = 9999
"""Sign flips of a paired permutation test."""


def interval(draws: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """Percentile interval of bootstrap draws, NaN draws (a resample where the statistic is undefined) left out;
    NaN bounds when every draw is NaN."""
    draws = np.asarray(draws, dtype=float)
    if np.isnan(draws).all():
        return np.nan, np.nan
    tail = (100 - 100 * level) / 2
    low, high = np.nanpercentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def effect(value: float, draws: np.ndarray) -> dict[str, float]:
    """An estimate with its percentile interval, as the claims and the paired contrasts report it."""
    low, high = interval(draws)
    return {"effect": float(value), "ci_low": low, "ci_high": high}


def sign(estimate: dict[str, float]) -> int:
    """1 when the interval lies above 0, -1 when below, 0 when it includes 0: the only reading of an interval."""
    if estimate["ci_low"] > 0:
        return 1
    return -1 if estimate["ci_high"] < 0 else 0


def verdict(estimate: dict[str, float], held: str, reversed_: str, unclear: str) -> str:
    """The sentence an interval supports: above 0 holds, below 0 reverses, otherwise it shows nothing."""
    return {1: held, -1: reversed_, 0: unclear}[sign(estimate)]


def adjusted(p_values: np.ndarray, method: str = "holm") -> np.ndarray:
    """p-values adjusted across a family of tests (holm: family-wise; fdr_bh: false discovery rate)."""
    p_values = np.asarray(p_values, dtype=float)
    return multipletests(p_values, method=method)[1] if len(p_values) else p_values


def resample(n_people: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of people drawn with replacement, one row per resample."""
    return rng.integers(0, n_people, size=(n_boot, n_people))


def resample_counts(n_people: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """How often each person is drawn in each resample, for statistics that weight people rather than index them."""
    return np.stack([np.bincount(row, minlength=n_people) for row in resample(n_people, n_boot, rng)])


def person_bootstrap(
    values: np.ndarray, people: np.ndarray, n_boot: int, rng: np.random.Generator
) -> tuple[float, float, float]:
    """Mean of `values` and its percentile interval when whole people (all their values together) are resampled; an
    interval of accuracies stays inside [0, 1]. NaN values (a person with no pair of a type) are left out."""
    keep = ~np.isnan(values)
    values, people = values[keep], people[keep]
    if not len(values):
        return np.nan, np.nan, np.nan
    labels, index = np.unique(people, return_inverse=True)
    sums = np.bincount(index, weights=values, minlength=len(labels))
    counts = np.bincount(index, minlength=len(labels)).astype(float)
    draws = resample(len(labels), n_boot, rng)
    low, high = interval(sums[draws].sum(axis=1) / counts[draws].sum(axis=1))
    return float(values.mean()), low, high


def paired_difference(
    by_person: pd.DataFrame,
    method: str,
    other: str,
    n_boot: int,
    rng: np.random.Generator,
    min_people: int = 1,
    test: bool = False,
) -> dict[str, float] | None:
    """`method` minus `other` on the people scored under both (one row per person, one column per method): the mean
    difference, its people-resampled interval, `people`, and with `test` the sign-flip `p`; None with fewer than
    `min_people` (at least one) such people, before any draw, so a skipped contrast takes nothing from `rng`."""
    if method not in by_person or other not in by_person:
        return None
    both = by_person[[method, other]].dropna()
    if len(both) < max(min_people, 1):
        return None
    differences = (both[method] - both[other]).to_numpy()
    mean, low, high = person_bootstrap(differences, both.index.to_numpy(), n_boot, rng)
    contrast = {"effect": mean, "ci_low": low, "ci_high": high, "people": len(both)}
    return contrast | ({"p": sign_flip_p(differences, rng)} if test else {})


def sign_flip_p(differences: np.ndarray, rng: np.random.Generator) -> float:
    """Two-sided p of a paired permutation test: each person's difference keeps its size and flips its sign."""
    test = stats.permutation_test(
        (differences,), np.mean, permutation_type="samples", n_resamples=PERMUTATIONS, random_state=rng
    )
    return float(test.pvalue)


LATENT_METHODS = ("vpl",)
"""Train methods whose model reads a learnt user vector instead of a prefix: no test prefix probes them."""
ROLES = ("own", "re-sampled", "another person's", "none")
"""What a test prefix is to the prefix its model was trained on (experiments/faithfulness.sh)."""
GAPS = {"own - another's": "another person's", "own - none": "none"}
"""The faithfulness gaps of the claims: the own prefix's accuracy minus that of the prefix in each role."""


def prefix_role(train: str, test: str) -> str | None:
    """Which role a test prefix plays for a train prefix, or None when it is an unrelated prefix."""
    if train in LATENT_METHODS:
        return None
    if test == train:
        return "own"
    if test == "no_prefix":
        return "none"
    try:
        trained, tested = parse_method(train), parse_method(test)
    except DataError:
        return None
    if tested.shuffle and tested.base == train:
        return "another person's"
    same = dataclasses.replace(tested, name=trained.name, seed=trained.seed) == trained
    return "re-sampled" if same and not tested.shuffle and tested.seed != trained.seed else None


def role_prefix(train: str, role: str) -> str:
    """The test prefix in a role that has one name (own, another person's, none) for a train prefix."""
    names = {"own": train, "another person's": f"shuffle_{train}", "none": "no_prefix"}
    if role not in names:
        raise ValueError(f"the role {role!r} names no single prefix; roles with one are {', '.join(names)}")
    return names[role]
