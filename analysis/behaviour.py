"""Does reward accuracy predict behaviour? Kendall τ and Spearman ρ between a reward metric and each behavioural
metric (the gen_* rows of results.csv), across people and across methods, with bootstrap intervals over people.

Unit: one person under one (model, train method, test method, fold), both metrics as totals over question types.
`people` correlates those units; `methods` correlates the per-method means. Intervals resample people with
replacement (all of a person's units together) and recompute both levels. Writes analysis/behaviour_correlation.csv
and one scatter per behavioural metric (analysis/behaviour_<metric>.png, a panel per method, seen vs unseen).
Usage: `python -m analysis.behaviour --experiment_dir dump/demo`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from trl import TrlParser

from analysis.aggregate import KEYS, read_results, reward_and_behaviour
from analysis.figures.behaviour import scatter
from analysis.statistics import interval, resample_counts
from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import write_csv

GROUPS = {"seen": [True], "unseen": [False], "all": [True, False]}


@dataclass
class BehaviourArguments:
    experiment_dir: str = field(default="dump/demo", metadata={"help": "dump/<experiment> with results.csv."})
    metric: str = field(default="ref_free_avg", metadata={"help": "Reward-accuracy metric to correlate."})
    n_boot: int = field(default=1000, metadata={"help": "Bootstrap resamples of people."})
    seed: int = field(default=0, metadata={"help": "Bootstrap seed."})


def behavioural_metrics(results: pd.DataFrame) -> list[str]:
    return sorted(metric for metric in results["metric"].unique() if str(metric).startswith("gen_"))


def _statistics(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """τ-b and ρ (Pearson's r of average ranks, as scipy's spearmanr); NaN with fewer than three points or no
    spread."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan, np.nan
    rho = np.corrcoef(stats.rankdata(x), stats.rankdata(y))[0, 1]
    return float(stats.kendalltau(x, y).statistic), float(rho)


@dataclass(frozen=True)
class _Units:
    """The paired units as arrays, read once: a bootstrap draw then costs no pandas work."""

    x: np.ndarray
    y: np.ndarray
    method: np.ndarray
    person: np.ndarray

    @classmethod
    def of(cls, units: pd.DataFrame) -> _Units:
        method = units.groupby(KEYS, sort=True).ngroup().to_numpy()
        person = units["name"].astype("category").cat.codes.to_numpy()
        return cls(units["reward"].to_numpy(float), units["behaviour"].to_numpy(float), method, person)


def _correlations(units: _Units, weights: np.ndarray | None = None) -> dict[str, float]:
    """τ and ρ across units and across method means; `weights` repeat units (how often a person was drawn)."""
    x, y, method = units.x, units.y, units.method
    weights = np.ones(len(x), dtype=int) if weights is None else weights
    totals = np.bincount(method, weights=weights)
    drawn = totals > 0
    means_x = np.bincount(method, weights=weights * x)[drawn] / totals[drawn]
    means_y = np.bincount(method, weights=weights * y)[drawn] / totals[drawn]
    out: dict[str, float] = {}
    for level, (a, b) in (("people", (np.repeat(x, weights), np.repeat(y, weights))), ("methods", (means_x, means_y))):
        out[f"{level}/tau"], out[f"{level}/rho"] = _statistics(a, b)
        out[f"{level}/n"] = len(a)
    return out


def _bootstrap(units: _Units, n_boot: int, seed: int) -> dict[str, tuple[float, float]]:
    """95% percentile intervals of each statistic, resampling people (with all their units)."""
    counts = resample_counts(int(units.person.max()) + 1, n_boot, np.random.default_rng(seed))
    frame = pd.DataFrame([_correlations(units, row[units.person]) for row in counts])
    return {column: interval(frame[column].to_numpy()) for column in frame.columns if not column.endswith("/n")}


def correlation_table(results: pd.DataFrame, metric: str, n_boot: int, seed: int) -> pd.DataFrame:
    """τ and ρ with 95% intervals for every behavioural metric, level (people/methods) and group (seen/unseen/all)."""
    rows = []
    for behaviour in behavioural_metrics(results):
        units = reward_and_behaviour(results, metric, behaviour)
        for group, seen in GROUPS.items():
            part = units[units["seen"].isin(seen)]
            if part.empty:
                continue
            arrays = _Units.of(part)
            point, interval = _correlations(arrays), _bootstrap(arrays, n_boot, seed)
            for level in ("people", "methods"):
                row = {"behaviour": behaviour, "reward": metric, "group": group, "level": level}
                row["n"] = point[f"{level}/n"]
                for stat in ("tau", "rho"):
                    low, high = interval[f"{level}/{stat}"]
                    row.update({stat: point[f"{level}/{stat}"], f"{stat}_low": low, f"{stat}_high": high})
                rows.append(row)
    if not rows:
        raise DataError("results.csv has no behavioural metric (gen_*); run evaluation.judge_responses first")
    return pd.DataFrame(rows)


def run(args: BehaviourArguments) -> pd.DataFrame:
    experiment_dir = Path(args.experiment_dir)
    results = read_results(experiment_dir)
    table = correlation_table(results, args.metric, args.n_boot, args.seed)
    out = experiment_dir / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "behaviour_correlation.csv", table)
    for behaviour in behavioural_metrics(results):
        scatter(results, args.metric, behaviour, out / f"behaviour_{behaviour}.png")
    return table


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("behaviour", [BehaviourArguments], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (config,) = parse_config(parser or make_parser(), args)
    table = run(config)
    print(f"{config.metric} vs behavioural metrics (95% intervals, people resampled {config.n_boot} times)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {Path(config.experiment_dir) / 'analysis' / 'behaviour_correlation.csv'}")


if __name__ == "__main__":
    main()
