"""Training curves of every scored run of an experiment, from its train_log.jsonl (docs/design.md §11, §12).

A run's identity comes from a summary.json under its eval/ folder, so logs of runs that were never scored (the SFT
warm-ups) are counted and left out. Small multiples: one row of panels per base model, one panel per logged series
(train loss, reward margin, validation accuracy), one line per run.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.figures.registry import Skip, figure  # noqa: E402
from analysis.figures.style import distinct_colours, save_figure, top_legend  # noqa: E402
from famous_persona.io import read_json, read_rows  # noqa: E402

SERIES = {
    "loss": "train loss",
    "rewards/margins": "train reward margin",
    "eval_loss": "validation loss",
    "eval_rewards/margins": "validation reward margin",
    "eval_rewards/accuracies": "validation accuracy",
}
COLUMNS = ["model", "train_method", "fold", "run", "step", "series", "value"]


def _identity(run_dir: Path) -> dict | None:
    """model, train method and fold of a run, from the first summary.json of its scores."""
    for path in sorted(run_dir.glob("eval/*/summary.json")):
        summary = read_json(path)
        return {key: summary[key] for key in ("model", "train_method", "fold")}
    return None


def curves(experiment_dir: Path | str) -> tuple[pd.DataFrame, int]:
    """Long table of every logged value of SERIES per scored run, and the number of logs left out (no scores)."""
    experiment_dir = Path(experiment_dir)
    rows, unscored = [], 0
    for log in sorted(experiment_dir.rglob("train_log.jsonl")):
        identity = _identity(log.parent)
        if identity is None:
            unscored += 1
            continue
        run = str(log.parent.relative_to(experiment_dir))
        for entry in read_rows(log):
            for key in SERIES:
                if key in entry and "step" in entry:
                    rows.append({**identity, "run": run, "step": entry["step"], "series": key, "value": entry[key]})
    return pd.DataFrame(rows, columns=COLUMNS), unscored


@figure(
    "training_curves",
    "Training curves (train_log.jsonl of each run)",
    "training",
    ("experiment_dir",),
)
def training_curves(experiment_dir: Path | str, path: Path) -> str:
    """Small multiples of the logged series per base model, one line per run coloured by train method."""
    frame, unscored = curves(experiment_dir)
    if frame.empty:
        raise Skip(
            "no scored run has a train_log.jsonl with a loss, reward margin or validation accuracy (train and score "
            "with experiments/cv.sh)"
        )
    models = sorted(frame["model"].unique())
    series = [key for key in SERIES if key in set(frame["series"])]
    methods = sorted(frame["train_method"].unique())
    colours = distinct_colours(methods)
    styles = ["-", "--", ":", "-."]
    folds = sorted(frame["fold"].unique())
    fig, axes = plt.subplots(len(models), len(series), figsize=(2.5 * len(series), 2.6 * len(models)), squeeze=False)
    for row, model in zip(axes, models, strict=True):
        for ax, key in zip(row, series, strict=True):
            part = frame[(frame["model"] == model) & (frame["series"] == key)]
            for (method, fold, _run), line in part.groupby(["train_method", "fold", "run"], sort=True):
                style = styles[folds.index(fold) % len(styles)]
                ax.plot(line["step"], line["value"], style, color=colours[method], marker=".", markersize=4)
            ax.set_title(f"{model} · {SERIES[key]}", fontsize=9)
            ax.set_xlabel("step", fontsize=8)
            ax.tick_params(labelsize=7)
    handles = [plt.Line2D([], [], color=colours[m], label=m) for m in methods]
    handles += [
        plt.Line2D([], [], color="#555555", linestyle=styles[i % 4], label=f"fold {f}") for i, f in enumerate(folds)
    ]
    top_legend(fig, handles, "run")
    save_figure(fig, path)
    left_out = f"; {unscored} log(s) of runs without scores (SFT warm-ups) left out" if unscored else ""
    return (
        f"One line per run ({frame['run'].nunique()} runs), coloured by train method, line style by fold; "
        f"values as the trainer logged them (every logging step, validation once per evaluation){left_out}."
    )
