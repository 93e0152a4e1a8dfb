"""Walk dump/<experiment>/**/scores.jsonl into results.csv (docs/design.md §11) and print the main table.

The run identity (model, train and test method, fold) comes from each summary.json, never from directory names.
The table: Personal / Divergent / Total accuracy per (model, train method, test method), seen vs unseen people, as the
mean over person-folds with a 95% bootstrap interval that resamples people (a person's folds move together), and the
paired contrasts persona vs no_prefix and persona vs xyw on the same people (docs/design.md §11).
Usage: `python -m analysis.aggregate --experiment_dir dump/demo`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from trl import TrlParser

from analysis.statistics import adjusted, paired_difference, person_bootstrap
from famous_persona import trainers
from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import read_json, read_rows, write_csv, write_text
from famous_persona.manifest import output_manifest, shaping
from famous_persona.methods import parse_method
from famous_persona.metrics import METRICS, margin

log = logging.getLogger(__name__)

COLUMNS = [
    "experiment",
    "model",
    "trainer",
    "train_method",
    "test_method",
    "fold",
    "name",
    "seen",
    "question_type",
    "metric",
    "n",
    "n_correct",
    "accuracy",
    "fold_scheme",
    "base_model",
    "config_hash",
]
# What a row of every table is grouped by: runs of another trainer or fold scheme are never pooled.
KEYS = ["model", "train_method", "test_method", "trainer", "fold_scheme"]
IDENTITY = ["experiment", *KEYS, "fold", "base_model", "config_hash"]
UNIT = [*KEYS, "seen", "fold", "name"]
"""One person under one run: the unit every mean and correlation is taken over."""
BASELINES = ("no_prefix", "xyw")
PAIRED_COLUMNS = [
    "model",
    "regime",
    "trainer",
    "fold_scheme",
    "seen",
    "method",
    "baseline",
    "n_people",
    "difference",
    "low",
    "high",
    "p",
    "p_holm",
]


class NoScores(DataError):
    """An experiment folder with nothing scored in it yet."""


@dataclass
class AggregateArguments:
    experiment_dir: str = field(default="dump/demo", metadata={"help": "dump/<experiment> to walk."})
    metric: str = field(default="ref_free_avg", metadata={"help": "Metric of the printed table."})
    n_boot: int = field(default=2000, metadata={"help": "Bootstrap resamples of people for every interval."})
    seed: int = field(default=0, metadata={"help": "Seed of the bootstrap and permutation draws."})


def run_identity(summary_path: Path, summary: dict, stage: str) -> dict:
    """fold scheme, base model and config hash of a run, from the training manifest (or, for a prompt-only run, the
    manifest of `stage` beside the summary), so runs that share a method and fold number can never be merged. The hash
    leaves out the settings that change no number (paths, logging, launch), so a run copied or moved keeps its
    identity."""
    train_manifest = summary_path.parents[2] / "manifest.json"
    eval_manifest = output_manifest(summary_path.parent, stage)
    train = read_json(train_manifest) if train_manifest.is_file() else {}
    evaluation = read_json(eval_manifest) if eval_manifest.is_file() else {}
    eval_config = shaping(evaluation.get("config", {}))
    config = shaping(train.get("config", {})) or eval_config
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12] if config else ""
    trainer = summary.get("trainer") or trainers.trained_by(train.get("stage"))
    return {
        "trainer": trainer or ("none" if summary["train_method"] == "none" else "unknown"),
        "fold_scheme": summary.get("fold_scheme", "fold"),
        "base_model": root_model(train.get("base_model") or eval_config.get("model", "")),
        "config_hash": digest,
    }


def root_model(model: str) -> str:
    """The model a chain of trainings started from: a trained folder (`<run>/model`, beside the run's manifest) is
    followed back through the `base_model` its run recorded, so DPO after an SFT warm-up names the SFT's start."""
    for _ in range(8):
        manifest = Path(model).parent / "manifest.json"
        if not model or Path(model).name != "model" or not manifest.is_file():
            break
        model = read_json(manifest).get("base_model") or model
    return model


def collect(experiment_dir: Path | str) -> pd.DataFrame:
    """One row per (model, train_method, test_method, fold, name, question_type, metric); a run identity found twice
    (a copied run directory) is counted once, and two copies of one identity with different numbers are an error."""
    runs = Runs()
    for summary_path in sorted(Path(experiment_dir).rglob("summary.json")):
        scores_path = summary_path.with_name("scores.jsonl")
        if not scores_path.is_file():
            continue
        summary = read_json(summary_path)
        named = ("experiment", "model", "train_method", "test_method", "fold")
        identity = {**{k: summary[k] for k in named}, **run_identity(summary_path, summary, "evaluation.score")}
        cells: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
        for row in read_rows(scores_path):
            for metric in METRICS:
                value = margin(row, metric, summary.get("beta", 1.0))
                if value is not None:
                    cell = cells[(row["name"], row["seen"], row["question_type"], metric)]
                    cell[0] += 1
                    cell[1] += value > 0
        runs.add(summary_path, identity, cells)
    behaviour_records(experiment_dir, runs)
    if not runs.records:
        found = "no such folder" if not Path(experiment_dir).is_dir() else "no summary.json with scores.jsonl beside it"
        raise NoScores(f"{experiment_dir}: {found}; score a model into it first (famous-persona score)")
    return pd.DataFrame.from_records(runs.records, columns=COLUMNS).sort_values(COLUMNS[:10]).reset_index(drop=True)


class Runs:
    """results.csv rows gathered run by run, each run identity once."""

    def __init__(self) -> None:
        self.records: list[dict] = []
        self.seen: dict[tuple, tuple[Path, dict]] = {}

    def add(self, path: Path, identity: dict, cells: dict[tuple, list[int]]) -> None:
        """The rows of one run's cells (name, seen, question type, metric) -> [n, n_correct], once per identity and
        kind of summary file; a copy of a run already added is skipped, a conflicting one refused with both paths."""
        key = (path.name, *(identity[k] for k in IDENTITY))
        counts = {cell: tuple(value) for cell, value in cells.items()}
        if key in self.seen:
            first, known = self.seen[key]
            if known != counts:
                raise DataError(f"{path}: same run identity as {first} but other numbers; remove the wrong copy")
            log.warning("%s: same run identity as %s; counted once", path, first)
            return
        self.seen[key] = (path, counts)
        for (name, seen, question_type, metric), (n, n_correct) in cells.items():
            cell = {"name": name, "seen": seen, "question_type": question_type, "metric": metric}
            self.records.append({**identity, **cell, "n": n, "n_correct": n_correct, "accuracy": n_correct / n})


def behaviour_records(experiment_dir: Path | str, runs: Runs) -> None:
    """results.csv rows of the behavioural metrics (evaluation.judge_responses): one per person, question type and
    metric, with n responses and n_correct the aligned ones, so every table treats them like an accuracy."""
    for summary_path in sorted(Path(experiment_dir).rglob("judge_*_summary.json")):
        summary = read_json(summary_path)
        verdicts_path = summary_path.with_name(f"judge_{summary['judge']}.jsonl")
        cells: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
        for row in read_rows(verdicts_path):
            for metric, aligned in row["metrics"].items():
                cell = cells[(row["name"], row["seen"], row["question_type"], metric)]
                cell[0] += 1
                cell[1] += bool(aligned)
        identity = {key: summary[key] for key in ("experiment", "model", "train_method", "test_method", "fold")}
        runs.add(summary_path, identity | run_identity(summary_path, summary, "evaluation.generate"), cells)


def read_results(experiment_dir: Path | str) -> pd.DataFrame:
    """results.csv of an experiment, checked against the column contract so a stale or foreign file fails clearly."""
    path = Path(experiment_dir) / "results.csv"
    if not path.is_file():
        raise DataError(f"{path}: file not found; run `python -m analysis.aggregate --experiment_dir {experiment_dir}`")
    results = pd.read_csv(path, keep_default_na=False, dtype={"config_hash": str, "base_model": str})
    if list(results.columns) != COLUMNS:
        raise DataError(f"{path}: expected the columns {', '.join(COLUMNS)}; got {', '.join(results.columns)}")
    results["seen"] = results["seen"].astype(str).str.lower().map({"true": True, "false": False})
    if results["seen"].isna().any():
        raise DataError(f"{path}: column 'seen' must be True or False")
    return results


def person_totals(results: pd.DataFrame, metric: str = "ref_free_avg") -> pd.DataFrame:
    """Personal / Divergent / Total accuracy and pair count per (model, train, test, seen, fold, person): the unit of
    every mean."""
    rows = results[results["metric"] == metric]
    by_type = rows.pivot_table(index=UNIT, columns="question_type", values=["n", "n_correct"], aggfunc="sum")
    per_unit = pd.DataFrame(index=by_type.index)
    for question_type in ("personal", "divergent"):
        if ("n", question_type) in by_type.columns:
            per_unit[question_type.capitalize()] = by_type[("n_correct", question_type)] / by_type[("n", question_type)]
    per_unit["Total"] = by_type["n_correct"].sum(axis=1) / by_type["n"].sum(axis=1)
    per_unit["n_pairs"] = by_type["n"].sum(axis=1).astype(int)
    return per_unit.reset_index()


def reward_and_behaviour(results: pd.DataFrame, metric: str, behaviour: str) -> pd.DataFrame:
    """One row per unit scored under both metrics: the total of the reward metric (`reward`) and of the behavioural
    one (`behaviour`)."""
    reward = person_totals(results, metric).rename(columns={"Total": "reward"})[[*UNIT, "reward"]]
    judged = person_totals(results, behaviour).rename(columns={"Total": "behaviour"})[[*UNIT, "behaviour"]]
    return reward.merge(judged, on=UNIT)


def main_table(results: pd.DataFrame, metric: str = "ref_free_avg", n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per group: people, folds, pairs, and per question type the mean over person-folds with its people-resampled
    95% interval, as numbers (mean, low, high)."""
    per_unit = person_totals(results, metric)
    per_unit["seen"] = per_unit["seen"].map({True: "seen", False: "unseen"})
    columns = [c for c in ("Personal", "Divergent", "Total") if c in per_unit.columns]
    rng = np.random.default_rng(seed)
    rows = []
    for group, part in per_unit.groupby([*KEYS, "seen"], sort=True):
        row = dict(zip([*KEYS, "seen"], group, strict=True))
        row.update(n_people=part["name"].nunique(), folds=part["fold"].nunique(), n_pairs=int(part["n_pairs"].sum()))
        for column in columns:
            estimate = person_bootstrap(part[column].to_numpy(float), part["name"].to_numpy(), n_boot, rng)
            row.update(zip((column, f"{column}_low", f"{column}_high"), estimate, strict=True))
        rows.append(row)
    return pd.DataFrame(rows)


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """The table for reading: `mean [low, high]` per question type."""
    shown = table[[c for c in table.columns if not c.endswith(("_low", "_high"))]].copy()
    for column in ("Personal", "Divergent", "Total"):
        if column in table.columns:
            cells = zip(table[column], table[f"{column}_low"], table[f"{column}_high"], strict=True)
            shown[column] = ["" if np.isnan(m) else f"{m:.3f} [{lo:.3f}, {hi:.3f}]" for m, lo, hi in cells]
    return shown


def _contrast_pairs(methods: set[str]) -> list[tuple[str, str]]:
    """(persona method, baseline) for every persona prefix present against no_prefix and each xyw prefix."""
    kinds = {}
    for name in methods:
        try:
            kinds[name] = parse_method(name)
        except DataError:
            continue
    personas = sorted(n for n, m in kinds.items() if m.persona and not m.shuffle)
    baselines = sorted(n for n, m in kinds.items() if m.family in BASELINES and not m.shuffle)
    return [(a, b) for a in personas for b in baselines]


def paired_comparisons(
    results: pd.DataFrame, metric: str = "ref_free_avg", n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Total accuracy of a persona prefix minus a baseline's on the same people (folds averaged per person), within
    one model, seen/unseen group and regime (fine-tuned on its own prefix, or prompt-only): the difference, its
    people-resampled 95% interval, a paired sign-flip permutation p and the Holm-adjusted p over all contrasts."""
    per_unit = person_totals(results, metric)
    per_unit = per_unit[(per_unit["train_method"] == per_unit["test_method"]) | (per_unit["train_method"] == "none")]
    per_unit = per_unit.assign(regime=np.where(per_unit["train_method"] == "none", "prompt-only", "fine-tuned"))
    rng = np.random.default_rng(seed)
    rows = []
    groups = per_unit.groupby(["model", "regime", "trainer", "fold_scheme", "seen"], sort=True)
    for (model, regime, trainer, scheme, seen), part in groups:
        by_person = part.groupby(["test_method", "name"])["Total"].mean().unstack("test_method")
        for method, baseline in _contrast_pairs(set(by_person.columns)):
            contrast = paired_difference(by_person, method, baseline, n_boot, rng, min_people=2, test=True)
            if contrast is None:
                continue
            rows.append(
                {
                    "model": model,
                    "regime": regime,
                    "trainer": trainer,
                    "fold_scheme": scheme,
                    "seen": "seen" if seen else "unseen",
                    "method": method,
                    "baseline": baseline,
                    "n_people": contrast["people"],
                    "difference": contrast["effect"],
                    "low": contrast["ci_low"],
                    "high": contrast["ci_high"],
                    "p": contrast["p"],
                }
            )
    frame = pd.DataFrame(rows, columns=PAIRED_COLUMNS[:-1])
    frame["p_holm"] = adjusted(frame["p"].to_numpy(float), "holm")
    return frame


def aggregate(
    experiment_dir: Path | str, metric: str = "ref_free_avg", n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """results.csv, table.csv (numbers), table.md (for reading) and paired.csv; returns the numeric table."""
    experiment_dir = Path(experiment_dir)
    results = collect(experiment_dir)
    write_csv(experiment_dir / "results.csv", results)
    table = main_table(results, metric, n_boot, seed)
    write_csv(experiment_dir / "table.csv", table)
    write_text(experiment_dir / "table.md", formatted(table).to_markdown(index=False) + "\n")
    write_csv(experiment_dir / "paired.csv", paired_comparisons(results, metric, n_boot, seed))
    return table


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("aggregate", [AggregateArguments], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (config,) = parse_config(parser or make_parser(), args)
    table = aggregate(config.experiment_dir, config.metric, config.n_boot, config.seed)
    print(f"{config.metric} accuracy (mean over person-folds [95% interval resampling people]; ties count as wrong)")
    print(formatted(table).to_string(index=False))
    paired = pd.read_csv(Path(config.experiment_dir) / "paired.csv")
    if len(paired):
        print("paired contrasts on the same people (Total accuracy difference, Holm-adjusted p)")
        print(paired.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {Path(config.experiment_dir) / 'results.csv'}")


if __name__ == "__main__":
    main()
