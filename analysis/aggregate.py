"""Walk dump/<experiment>/**/scores.jsonl into results.csv (docs/design.md §11) and print the main table.

The run identity (model, train and test method, fold) comes from each summary.json, never from directory names.
The table: Personal / Divergent / Total accuracy per (model, train method, test method), seen vs unseen people, as the
mean over person-folds with a 95% t-interval. Usage: `python -m analysis.aggregate --experiment_dir dump/demo`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from trl import TrlParser

from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import RecordError, read_json
from famous_persona.metrics import METRICS, margin

COLUMNS = [
    "experiment", "model", "train_method", "test_method", "fold", "name", "seen", "question_type", "metric", "n",
    "n_correct", "accuracy",
]  # fmt: skip
KEYS = ["model", "train_method", "test_method"]


@dataclass
class AggregateArguments:
    experiment_dir: str = field(default="dump/demo", metadata={"help": "dump/<experiment> to walk."})
    metric: str = field(default="ref_free_avg", metadata={"help": "Metric of the printed table."})


def _score_rows(path: Path) -> list[dict]:
    import json

    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise RecordError(path, number, None, f"malformed JSON ({error.msg})") from None
    return rows


def collect(experiment_dir: Path | str) -> pd.DataFrame:
    """One row per (model, train_method, test_method, fold, name, question_type, metric)."""
    records = []
    for summary_path in sorted(Path(experiment_dir).rglob("summary.json")):
        scores_path = summary_path.with_name("scores.jsonl")
        if not scores_path.is_file():
            continue
        summary = read_json(summary_path)
        cells: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
        for row in _score_rows(scores_path):
            for metric in METRICS:
                value = margin(row, metric, summary.get("beta", 1.0))
                if value is not None:
                    cell = cells[(row["name"], row["seen"], row["question_type"], metric)]
                    cell[0] += 1
                    cell[1] += value > 0
        for (name, seen, question_type, metric), (n, n_correct) in cells.items():
            records.append(
                {
                    "experiment": summary["experiment"],
                    "model": summary["model"],
                    "train_method": summary["train_method"],
                    "test_method": summary["test_method"],
                    "fold": summary["fold"],
                    "name": name,
                    "seen": seen,
                    "question_type": question_type,
                    "metric": metric,
                    "n": n,
                    "n_correct": n_correct,
                    "accuracy": n_correct / n,
                }
            )
    records += behaviour_records(experiment_dir)
    if not records:
        raise FileNotFoundError(f"{experiment_dir}: no summary.json with scores.jsonl beside it")
    return pd.DataFrame.from_records(records, columns=COLUMNS).sort_values(COLUMNS[:9]).reset_index(drop=True)


def behaviour_records(experiment_dir: Path | str) -> list[dict]:
    """results.csv rows of the behavioural metrics (evaluation.judge_responses): one per person, question type and
    metric, with n responses and n_correct the aligned ones, so every table treats them like an accuracy."""
    records = []
    for summary_path in sorted(Path(experiment_dir).rglob("judge_*_summary.json")):
        summary = read_json(summary_path)
        verdicts_path = summary_path.with_name(f"judge_{summary['judge']}.jsonl")
        cells: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
        for row in _score_rows(verdicts_path):
            for metric, aligned in row["metrics"].items():
                cell = cells[(row["name"], row["seen"], row["question_type"], metric)]
                cell[0] += 1
                cell[1] += bool(aligned)
        identity = {key: summary[key] for key in ("experiment", "model", "train_method", "test_method", "fold")}
        for (name, seen, question_type, metric), (n, n_correct) in cells.items():
            cell = {"name": name, "seen": seen, "question_type": question_type, "metric": metric}
            records.append({**identity, **cell, "n": n, "n_correct": n_correct, "accuracy": n_correct / n})
    return records


def read_results(experiment_dir: Path | str) -> pd.DataFrame:
    """results.csv of an experiment, checked against the column contract so a stale or foreign file fails clearly."""
    path = Path(experiment_dir) / "results.csv"
    if not path.is_file():
        raise DataError(f"{path}: file not found; run `python -m analysis.aggregate --experiment_dir {experiment_dir}`")
    results = pd.read_csv(path)
    if list(results.columns) != COLUMNS:
        raise DataError(f"{path}: expected the columns {', '.join(COLUMNS)}; got {', '.join(results.columns)}")
    results["seen"] = results["seen"].astype(str).str.lower().map({"true": True, "false": False})
    if results["seen"].isna().any():
        raise DataError(f"{path}: column 'seen' must be True or False")
    return results


def _mean_ci(values: pd.Series) -> str:
    values = values.to_numpy(dtype=float)
    mean = float(np.mean(values))
    if len(values) < 2:
        return f"{mean:.3f}"
    half = stats.t.ppf(0.975, len(values) - 1) * stats.sem(values) if np.std(values) > 0 else 0.0
    return f"{mean:.3f} ± {half:.3f}"


def person_totals(results: pd.DataFrame, metric: str = "ref_free_avg") -> pd.DataFrame:
    """Personal / Divergent / Total accuracy per (model, train, test, seen, fold, person): the unit of every mean."""
    rows = results[results["metric"] == metric]
    unit = [*KEYS, "seen", "fold", "name"]
    by_type = rows.pivot_table(index=unit, columns="question_type", values=["n", "n_correct"], aggfunc="sum")
    per_unit = pd.DataFrame(index=by_type.index)
    for question_type in ("personal", "divergent"):
        if ("n", question_type) in by_type.columns:
            per_unit[question_type.capitalize()] = by_type[("n_correct", question_type)] / by_type[("n", question_type)]
    per_unit["Total"] = by_type["n_correct"].sum(axis=1) / by_type["n"].sum(axis=1)
    return per_unit.reset_index()


def main_table(results: pd.DataFrame, metric: str = "ref_free_avg") -> pd.DataFrame:
    """Per person-fold accuracy by question type and in total, then mean ± 95% CI over person-folds."""
    per_unit = person_totals(results, metric)
    per_unit["seen"] = per_unit["seen"].map({True: "seen", False: "unseen"})
    columns = [c for c in ("Personal", "Divergent", "Total") if c in per_unit.columns]
    table = per_unit.groupby([*KEYS, "seen"]).agg(people=("name", "nunique"), **{c: (c, _mean_ci) for c in columns})
    return table.reset_index()


def aggregate(experiment_dir: Path | str, metric: str = "ref_free_avg") -> pd.DataFrame:
    experiment_dir = Path(experiment_dir)
    results = collect(experiment_dir)
    results.to_csv(experiment_dir / "results.csv", index=False)
    table = main_table(results, metric)
    table.to_csv(experiment_dir / "table.csv", index=False)
    (experiment_dir / "table.md").write_text(table.to_markdown(index=False) + "\n", encoding="utf-8")
    return table


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("aggregate", [AggregateArguments], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (config,) = parse_config(parser or make_parser(), args)
    table = aggregate(config.experiment_dir, config.metric)
    print(f"{config.metric} accuracy (mean ± 95% CI over people; ties count as wrong)")
    print(table.to_string(index=False))
    print(f"wrote {Path(config.experiment_dir) / 'results.csv'}")


if __name__ == "__main__":
    main()
