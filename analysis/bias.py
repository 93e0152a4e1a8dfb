"""Does personalization help some groups of people more than others? Tests per demographic attribute (SPEC §4.6).

Per unseen person, improvement = fine-tuned total accuracy (own prefix) minus the prompt-only accuracy of the base model
with the same prefix, or minus the no_prefix fine-tuned model of the same fold when there is no prompt-only row. Groups
come from personas.jsonl demographics (age binned from birth_year). Each (model, prefix, attribute) gets a one-way ANOVA
and a Kruskal-Wallis test on person means, with eta² and epsilon², bootstrap CIs of group means resampled by person, and
Holm / Benjamini-Hochberg adjusted p-values across all tests. Usage:
`python -m analysis.bias --experiment_dir dump/demo --data data/synthetic_demo`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from trl import TrlParser

from analysis.aggregate import person_totals, read_results
from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import DatasetDir
from famous_persona.schema import Persona

AGE_EDGES = (0, 30, 45, 60, 200)
AGE_LABELS = ("<30", "30-44", "45-59", "60+")
CORRECTIONS = ("holm", "fdr_bh")
RUN = ["model", "train_method", "baseline"]


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


def improvements(results: pd.DataFrame, metric: str = "ref_free_avg") -> pd.DataFrame:
    """One row per unseen (model, train method, fold, person): its own-prefix total accuracy minus the baseline's."""
    totals = person_totals(results, metric)
    unseen = totals[~totals["seen"].astype(bool)]
    prompt = unseen[unseen["train_method"] == "none"].groupby(["model", "test_method", "name"])["Total"].mean()
    plain = unseen[(unseen["train_method"] == "no_prefix") & (unseen["test_method"] == "no_prefix")]
    plain = plain.groupby(["model", "fold", "name"])["Total"].mean()
    tuned = unseen[(unseen["train_method"] != "none") & (unseen["test_method"] == unseen["train_method"])]
    rows = []
    for run in tuned.itertuples(index=False):
        if (run.model, run.test_method, run.name) in prompt.index:
            baseline, value = "prompt-only", prompt[(run.model, run.test_method, run.name)]
        elif run.train_method != "no_prefix" and (run.model, run.fold, run.name) in plain.index:
            baseline, value = "no_prefix", plain[(run.model, run.fold, run.name)]
        else:
            continue
        rows.append(
            {"model": run.model, "train_method": run.train_method, "baseline": baseline, "fold": run.fold,
             "name": run.name, "tuned": run.Total, "reference": value, "improvement": run.Total - value}
        )  # fmt: skip
    return pd.DataFrame(rows, columns=[*RUN, "fold", "name", "tuned", "reference", "improvement"])


def age_group(birth_year: object, reference_year: int) -> str | None:
    """Age bin of a birth year; None when unknown or not a year."""
    if not isinstance(birth_year, int) or isinstance(birth_year, bool):
        return None
    index = np.searchsorted(AGE_EDGES, reference_year - birth_year, side="right") - 1
    return AGE_LABELS[int(np.clip(index, 0, len(AGE_LABELS) - 1))]


def attributes(people: list[Persona], reference_year: int = 2024) -> pd.DataFrame:
    """Long table (name, attribute, group) of every known demographic value; birth_year becomes the attribute age."""
    rows = []
    for person in people:
        for attribute, value in person.demographics.items():
            if attribute == "birth_year":
                attribute, value = "age", age_group(value, reference_year)
            if value is not None and not isinstance(value, (dict, list)):
                rows.append({"name": person.name, "attribute": attribute, "group": str(value)})
    return pd.DataFrame(rows, columns=["name", "attribute", "group"])


def cluster_bootstrap_ci(
    values: np.ndarray, clusters: np.ndarray, n_boot: int, rng: np.random.Generator, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of the mean when whole clusters (people) are resampled, so repeated folds of one person
    are not counted as independent evidence."""
    labels, index = np.unique(clusters, return_inverse=True)
    sums = np.bincount(index, weights=values, minlength=len(labels))
    counts = np.bincount(index, minlength=len(labels)).astype(float)
    draws = rng.integers(0, len(labels), size=(n_boot, len(labels)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def group_test(groups: list[np.ndarray]) -> dict[str, float]:
    """One-way ANOVA with eta² and Kruskal-Wallis with epsilon²; constant data is no evidence (p = 1)."""
    pooled = np.concatenate(groups)
    n = len(pooled)
    total = float(((pooled - pooled.mean()) ** 2).sum())
    if total == 0:
        return {"F": 0.0, "p_anova": 1.0, "eta2": 0.0, "H": 0.0, "p_kw": 1.0, "epsilon2": 0.0}
    between = float(sum(len(g) * (g.mean() - pooled.mean()) ** 2 for g in groups))
    anova = stats.f_oneway(*groups)
    kruskal = stats.kruskal(*groups)
    return {
        "F": float(anova.statistic),
        "p_anova": float(anova.pvalue) if np.isfinite(anova.pvalue) else 1.0,
        "eta2": between / total,
        "H": float(kruskal.statistic),
        "p_kw": float(kruskal.pvalue),
        "epsilon2": float(kruskal.statistic) * (n + 1) / (n**2 - 1),
    }


def _grouped(gains: pd.DataFrame, traits: pd.DataFrame) -> pd.DataFrame:
    return gains.merge(traits, on="name", how="inner")


def group_means(gains: pd.DataFrame, traits: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Mean improvement of each group with a person-clustered bootstrap 95% CI."""
    rng = np.random.default_rng(seed)
    rows = []
    for key, part in _grouped(gains, traits).groupby([*RUN, "attribute", "group"], sort=True):
        low, high = cluster_bootstrap_ci(part["improvement"].to_numpy(float), part["name"].to_numpy(), n_boot, rng)
        rows.append({**dict(zip([*RUN, "attribute", "group"], key, strict=True)), "people": part["name"].nunique(),
                     "mean": part["improvement"].mean(), "ci_low": low, "ci_high": high})  # fmt: skip
    return pd.DataFrame(rows, columns=[*RUN, "attribute", "group", "people", "mean", "ci_low", "ci_high"])


def group_tests(
    gains: pd.DataFrame, traits: pd.DataFrame, correction: str = "holm", alpha: float = 0.05, min_size: int = 2
) -> pd.DataFrame:
    """A test per (model, prefix, attribute) on person means, over groups of at least `min_size` people; p-values
    adjusted across every test in the table."""
    if correction not in CORRECTIONS:
        raise DataError(f"correction must be one of {CORRECTIONS}, got {correction!r}")
    person = _grouped(gains, traits).groupby([*RUN, "attribute", "group", "name"])["improvement"].mean().reset_index()
    rows = []
    for key, part in person.groupby([*RUN, "attribute"], sort=True):
        groups = [g["improvement"].to_numpy(float) for _, g in part.groupby("group") if len(g) >= min_size]
        if len(groups) < 2:
            continue
        sizes = {"groups": len(groups), "people": sum(len(g) for g in groups)}
        rows.append({**dict(zip([*RUN, "attribute"], key, strict=True)), **sizes, **group_test(groups)})
    tests = pd.DataFrame(rows, columns=[*RUN, "attribute", "groups", "people", "F", "p_anova", "eta2", "H", "p_kw",
                                        "epsilon2"])  # fmt: skip
    for test in ("anova", "kw"):
        for method in CORRECTIONS:
            pvalues = tests[f"p_{test}"].to_numpy(float)
            tests[f"p_{test}_{method}"] = multipletests(pvalues, method=method)[1] if len(tests) else []
    tests["significant"] = tests[f"p_anova_{correction}"] < alpha
    return tests


def run_bias(args: BiasArguments) -> dict[str, pd.DataFrame]:
    """Compute and save bias_improvement.csv, bias_groups.csv and bias_tests.csv under <experiment>/analysis/."""
    gains = improvements(read_results(args.experiment_dir), args.metric)
    traits = attributes(DatasetDir(args.data).personas(), args.reference_year)
    tables = {
        "improvement": gains,
        "groups": group_means(gains, traits, args.n_boot, args.seed),
        "tests": group_tests(gains, traits, args.correction, args.alpha),
    }
    out = Path(args.experiment_dir) / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_csv(out / f"bias_{name}.csv", index=False)
    return tables


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("bias", [BiasArguments], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (config,) = parse_config(parser or make_parser(), args)
    tables = run_bias(config)
    if tables["improvement"].empty:
        print("no unseen person has both a fine-tuned and a baseline (prompt-only or no_prefix) accuracy")
        return
    columns = [*RUN, "attribute", "groups", "people", "eta2", "p_anova", "p_kw", f"p_anova_{config.correction}",
               "significant"]  # fmt: skip
    print(tables["tests"][columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote bias_improvement.csv, bias_groups.csv, bias_tests.csv in {Path(config.experiment_dir) / 'analysis'}")


if __name__ == "__main__":
    main()
