"""Does personalization help some groups of people more than others? Tests per demographic attribute
(docs/design.md §12).

Per unseen person, improvement = fine-tuned total accuracy (own prefix) minus the prompt-only accuracy of the base model
with the same prefix, or minus the no_prefix fine-tuned model of the same fold when there is no prompt-only row. Groups
come from personas.jsonl demographics (age binned from birth_year), from its categorical `categories` when present.
Each (model, prefix, attribute) gets a one-way ANOVA and a Kruskal-Wallis test on person means, with eta² and epsilon²,
bootstrap CIs of group means resampled by person, and Holm / Benjamini-Hochberg adjusted p-values across all testable
rows. Groups under `min_group_size` people are pooled into "other" (or dropped when the pool is still too small), noted
per row; a degenerate design (one group, a group of one, no variance) is reported as not testable with NaN statistics
and its reason, never as a number. Usage:
`python -m analysis.bias --experiment_dir dump/demo --data data/synthetic_demo`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from trl import TrlParser

from analysis.aggregate import person_totals, read_results
from analysis.statistics import adjusted, person_bootstrap
from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import DatasetDir, write_csv
from famous_persona.schema import Persona

AGE_EDGES = (0, 30, 45, 60, 200)
AGE_LABELS = ("<30", "30-44", "45-59", "60+")
CORRECTIONS = ("holm", "fdr_bh")
RUN = ["model", "trainer", "fold_scheme", "train_method", "baseline"]


@dataclass
class BiasArguments:
    experiment_dir: str = field(default="dump/demo", metadata={"help": "dump/<experiment> with results.csv."})
    data: str = field(
        default="data/synthetic_demo", metadata={"help": "Dataset whose personas.jsonl has demographics."}
    )
    metric: str = field(default="ref_free_avg", metadata={"help": "Accuracy metric the improvement is taken on."})
    reference_year: int = field(default=2024, metadata={"help": "Age = reference_year - birth_year, then binned."})
    n_boot: int = field(default=2000, metadata={"help": "Bootstrap resamples (of people) per group."})
    correction: str = field(default="holm", metadata={"help": "Which adjusted p decides 'significant': holm|fdr_bh."})
    alpha: float = field(default=0.05, metadata={"help": "Family-wise (holm) or false-discovery (fdr_bh) level."})
    seed: int = field(default=0, metadata={"help": "Bootstrap seed."})
    min_group_size: int = field(
        default=2, metadata={"help": "Groups with fewer people are pooled into 'other', or dropped if still too small."}
    )


def improvements(results: pd.DataFrame, metric: str = "ref_free_avg") -> pd.DataFrame:
    """One row per unseen (model, train method, fold, person): its own-prefix total accuracy minus the baseline's."""
    totals = person_totals(results, metric)
    unseen = totals[~totals["seen"].astype(bool)]
    prompt = unseen[unseen["train_method"] == "none"].groupby(["model", "test_method", "name"])["Total"].mean()
    plain = unseen[(unseen["train_method"] == "no_prefix") & (unseen["test_method"] == "no_prefix")]
    plain = plain.groupby(["model", "trainer", "fold_scheme", "fold", "name"])["Total"].mean()
    tuned = unseen[(unseen["train_method"] != "none") & (unseen["test_method"] == unseen["train_method"])]
    rows = []
    for run in tuned.itertuples(index=False):
        same_run = (run.model, run.trainer, run.fold_scheme, run.fold, run.name)
        if (run.model, run.test_method, run.name) in prompt.index:
            baseline, value = "prompt-only", prompt[(run.model, run.test_method, run.name)]
        elif run.train_method != "no_prefix" and same_run in plain.index:
            baseline, value = "no_prefix", plain[same_run]
        else:
            continue
        rows.append(
            {
                "model": run.model,
                "trainer": run.trainer,
                "fold_scheme": run.fold_scheme,
                "train_method": run.train_method,
                "baseline": baseline,
                "fold": run.fold,
                "name": run.name,
                "tuned": run.Total,
                "reference": value,
                "improvement": run.Total - value,
            }
        )
    return pd.DataFrame(rows, columns=[*RUN, "fold", "name", "tuned", "reference", "improvement"])


def age_group(birth_year: object, reference_year: int) -> str | None:
    """Age bin of a birth year; None when unknown or not a year."""
    if not isinstance(birth_year, int) or isinstance(birth_year, bool):
        return None
    index = np.searchsorted(AGE_EDGES, reference_year - birth_year, side="right") - 1
    return AGE_LABELS[int(np.clip(index, 0, len(AGE_LABELS) - 1))]


def demographic_values(person: Persona) -> dict:
    """The values to group by: the categorical `categories` when the table has them (free text rarely repeats), else
    the demographics themselves."""
    categories = person.demographics.get("categories")
    return categories if isinstance(categories, dict) else person.demographics


def attributes(people: list[Persona], reference_year: int = 2024) -> pd.DataFrame:
    """Long table (name, attribute, group) of every known demographic value; birth_year becomes the attribute age."""
    rows = []
    for person in people:
        for attribute, value in demographic_values(person).items():
            if attribute == "birth_year":
                attribute, value = "age", age_group(value, reference_year)
            if value is not None and not isinstance(value, (dict, list)):
                rows.append({"name": person.name, "attribute": attribute, "group": str(value)})
    return pd.DataFrame(rows, columns=["name", "attribute", "group"])


TEST_COLUMNS = ("F", "p_anova", "eta2", "H", "p_kw", "epsilon2")


def untestable(groups: list[np.ndarray]) -> str | None:
    """Why a group test would be meaningless here, or None when it is testable."""
    if len(groups) < 2:
        return "fewer than two groups"
    if min(len(g) for g in groups) < 2:
        return "a group of one person"
    pooled = np.concatenate(groups)
    if np.ptp(pooled) == 0:
        return "no variance: every person has the same improvement"
    if all(np.ptp(g) == 0 for g in groups):
        return "no variance within any group"
    return None


def group_test(groups: list[np.ndarray]) -> dict[str, float | str]:
    """One-way ANOVA with eta² and Kruskal-Wallis with epsilon²; a degenerate design gives NaN and its reason."""
    reason = untestable(groups)
    if reason is not None:
        return {**dict.fromkeys(TEST_COLUMNS, math.nan), "untestable": reason}
    pooled = np.concatenate(groups)
    n = len(pooled)
    total = float(((pooled - pooled.mean()) ** 2).sum())
    between = float(sum(len(g) * (g.mean() - pooled.mean()) ** 2 for g in groups))
    anova = stats.f_oneway(*groups)
    kruskal = stats.kruskal(*groups)
    return {
        "F": float(anova.statistic),
        "p_anova": float(anova.pvalue),
        "eta2": float(np.clip(between / total, 0.0, 1.0)),
        "H": float(kruskal.statistic),
        "p_kw": float(kruskal.pvalue),
        "epsilon2": float(np.clip(kruskal.statistic * (n + 1) / (n**2 - 1), 0.0, 1.0)),
        "untestable": "",
    }


def pool_small(sizes: dict[str, int], min_size: int) -> tuple[dict[str, str], str]:
    """Map each group to itself, or to 'other' when it has fewer than `min_size` people; the note says what moved
    (and what was dropped because even the pool stayed too small)."""
    small = sorted(group for group, size in sizes.items() if size < min_size)
    if not small:
        return {group: group for group in sizes}, ""
    if sum(sizes[group] for group in small) >= min_size and len(small) > 1:
        mapping = {group: ("other" if group in small else group) for group in sizes}
        return mapping, f"pooled into other (<{min_size} people): " + ", ".join(small)
    return {group: group for group in sizes if group not in small}, f"dropped (<{min_size} people): " + ", ".join(small)


def _grouped(gains: pd.DataFrame, traits: pd.DataFrame) -> pd.DataFrame:
    return gains.merge(traits, on="name", how="inner")


def group_means(gains: pd.DataFrame, traits: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Mean improvement of each group with a person-clustered bootstrap 95% CI."""
    rng = np.random.default_rng(seed)
    rows = []
    for key, part in _grouped(gains, traits).groupby([*RUN, "attribute", "group"], sort=True):
        _, low, high = person_bootstrap(part["improvement"].to_numpy(float), part["name"].to_numpy(), n_boot, rng)
        rows.append(
            {
                **dict(zip([*RUN, "attribute", "group"], key, strict=True)),
                "people": part["name"].nunique(),
                "mean": part["improvement"].mean(),
                "ci_low": low,
                "ci_high": high,
            }
        )
    return pd.DataFrame(rows, columns=[*RUN, "attribute", "group", "people", "mean", "ci_low", "ci_high"])


def group_tests(
    gains: pd.DataFrame, traits: pd.DataFrame, correction: str = "holm", alpha: float = 0.05, min_size: int = 2
) -> pd.DataFrame:
    """A test per (model, prefix, attribute) on person means after pooling groups under `min_size` people; p-values
    of the testable rows adjusted across the table, untestable rows kept with NaN and their reason."""
    if correction not in CORRECTIONS:
        raise DataError(f"correction must be one of {CORRECTIONS}, got {correction!r}")
    if min_size < 1:
        raise DataError(f"min_group_size must be at least 1, got {min_size}")
    person = _grouped(gains, traits).groupby([*RUN, "attribute", "group", "name"])["improvement"].mean().reset_index()
    rows = []
    for key, part in person.groupby([*RUN, "attribute"], sort=True):
        mapping, note = pool_small(part.groupby("group")["name"].nunique().to_dict(), min_size)
        kept = part[part["group"].isin(mapping)]
        kept = kept.assign(group=kept["group"].map(mapping))
        groups = [g["improvement"].to_numpy(float) for _, g in kept.groupby("group")]
        sizes = {"groups": len(groups), "people": len(kept), "min_group": min((len(g) for g in groups), default=0)}
        rows.append({**dict(zip([*RUN, "attribute"], key, strict=True)), **sizes, **group_test(groups), "note": note})
    tests = pd.DataFrame(
        rows, columns=[*RUN, "attribute", "groups", "people", "min_group", *TEST_COLUMNS, "untestable", "note"]
    )
    testable = tests["untestable"].eq("")
    for test in ("anova", "kw"):
        for method in CORRECTIONS:
            column = np.full(len(tests), math.nan)
            if testable.any():
                column[testable.to_numpy()] = adjusted(tests.loc[testable, f"p_{test}"], method)
            tests[f"p_{test}_{method}"] = column
    tests["significant"] = tests[f"p_anova_{correction}"] < alpha
    return tests


def run_bias(args: BiasArguments) -> dict[str, pd.DataFrame]:
    """Compute and save bias_improvement.csv, bias_groups.csv and bias_tests.csv under <experiment>/analysis/."""
    gains = improvements(read_results(args.experiment_dir), args.metric)
    traits = attributes(DatasetDir(args.data).personas(), args.reference_year)
    tables = {
        "improvement": gains,
        "groups": group_means(gains, traits, args.n_boot, args.seed),
        "tests": group_tests(gains, traits, args.correction, args.alpha, args.min_group_size),
    }
    out = Path(args.experiment_dir) / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        write_csv(out / f"bias_{name}.csv", table)
    return tables


def baselines_used(gains: pd.DataFrame) -> str:
    """Which baseline each fine-tuned method's improvement is measured against: the paper's (prompt-only with the
    same prefix) where those scores exist, else the no_prefix model of the same fold."""
    used = gains.groupby("baseline")["train_method"].unique()
    parts = [f"{name} for {', '.join(sorted(methods))}" for name, methods in used.items()]
    return "improvement over the baseline: " + "; ".join(parts) + " (the paper's is prompt-only)"


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("bias", [BiasArguments], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (config,) = parse_config(parser or make_parser(), args)
    tables = run_bias(config)
    if tables["improvement"].empty:
        print("no unseen person has both a fine-tuned and a baseline (prompt-only or no_prefix) accuracy")
        return
    columns = [
        *RUN,
        "attribute",
        "groups",
        "people",
        "eta2",
        "p_anova",
        "p_kw",
        f"p_anova_{config.correction}",
        "significant",
        "untestable",
    ]
    print(baselines_used(tables["improvement"]))
    print(tables["tests"][columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote bias_improvement.csv, bias_groups.csv, bias_tests.csv in {Path(config.experiment_dir) / 'analysis'}")


if __name__ == "__main__":
    main()
