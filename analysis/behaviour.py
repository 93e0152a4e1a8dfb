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

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402
from trl import TrlParser  # noqa: E402

from analysis.aggregate import KEYS, person_totals, read_results  # noqa: E402
from famous_persona.config import Subparsers, parse_config, stage_parser  # noqa: E402
from famous_persona.errors import DataError, exit_on_data_error  # noqa: E402
from famous_persona.io import save_figure, write_csv  # noqa: E402

UNIT = [*KEYS, "seen", "fold", "name"]
GROUPS = {"seen": [True], "unseen": [False], "all": [True, False]}


@dataclass
class BehaviourArguments:
    experiment_dir: str = field(default="dump/demo", metadata={"help": "dump/<experiment> with results.csv."})
    metric: str = field(default="ref_free_avg", metadata={"help": "Reward-accuracy metric to correlate."})
    n_boot: int = field(default=1000, metadata={"help": "Bootstrap resamples of people."})
    seed: int = field(default=0, metadata={"help": "Bootstrap seed."})


def behavioural_metrics(results: pd.DataFrame) -> list[str]:
    return sorted(metric for metric in results["metric"].unique() if str(metric).startswith("gen_"))


def paired(results: pd.DataFrame, metric: str, behaviour: str) -> pd.DataFrame:
    """One row per unit with both totals: `reward` and `behaviour`."""
    reward = person_totals(results, metric).rename(columns={"Total": "reward"})[[*UNIT, "reward"]]
    judged = person_totals(results, behaviour).rename(columns={"Total": "behaviour"})[[*UNIT, "behaviour"]]
    return reward.merge(judged, on=UNIT)


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
    rng = np.random.default_rng(seed)
    n_people = int(units.person.max()) + 1
    draws = []
    for _ in range(n_boot):
        counts = np.bincount(rng.integers(0, n_people, n_people), minlength=n_people)
        draws.append(_correlations(units, counts[units.person]))
    frame = pd.DataFrame(draws)
    return {
        column: tuple(np.nanpercentile(frame[column], [2.5, 97.5])) if frame[column].notna().any() else (np.nan,) * 2
        for column in frame.columns
        if not column.endswith("/n")
    }


def correlation_table(results: pd.DataFrame, metric: str, n_boot: int, seed: int) -> pd.DataFrame:
    """τ and ρ with 95% intervals for every behavioural metric, level (people/methods) and group (seen/unseen/all)."""
    rows = []
    for behaviour in behavioural_metrics(results):
        units = paired(results, metric, behaviour)
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


def scatter(results: pd.DataFrame, metric: str, behaviour: str, path: Path) -> Path:
    """Reward accuracy vs the behavioural metric per person, one panel per method, seen and unseen apart."""
    units = paired(results, metric, behaviour)
    methods = sorted(units.groupby(KEYS).groups)
    columns = min(4, len(methods))
    rows = -(-len(methods) // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(3.2 * columns, 3 * rows), squeeze=False, sharex=True, sharey=True
    )
    for ax, method in zip(axes.flat, methods, strict=False):
        frame = units.set_index(KEYS).loc[method]
        for seen, colour in ((True, "#1f77b4"), (False, "#d62728")):
            part = frame[frame["seen"] == seen]
            ax.scatter(
                part["reward"], part["behaviour"], s=14, alpha=0.7, color=colour, label="seen" if seen else "unseen"
            )
        ax.set_title(f"{method[1]} → {method[2]}", fontsize=8)
    for ax in axes.flat[len(methods) :]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    figure.supxlabel(f"reward accuracy ({metric})")
    figure.supylabel(behaviour)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(figure, path, dpi=110)
    plt.close(figure)
    return path


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
