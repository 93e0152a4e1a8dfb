"""Accuracy with the prefix each model was trained on: by prefix and question type, and per person. Each function
draws one PNG and returns the caption the page prints under it."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from analysis.aggregate import person_totals  # noqa: E402
from analysis.figures.registry import Skip, figure  # noqa: E402
from analysis.figures.style import (  # noqa: E402
    TESTED_ON,
    estimate,
    kind,
    kind_handles,
    label_colour,
    ordered,
    save_figure,
    seen_label,
    top_legend,
)
from analysis.statistics import LATENT_METHODS  # noqa: E402
from famous_persona.methods import is_training_only, split_training_set  # noqa: E402

QUESTION_TYPES = ("Personal", "Divergent")
FINE_TUNED, PROMPT_ONLY = "fine-tuned", "prompt-only"
NO_OWN = (
    "no run was tested with its own prefix and there are no prompt-only rows (run experiments/cv.sh or "
    "experiments/prompt_baseline.sh)"
)


def own_prefix(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Person-fold totals of every model tested the way it was trained, with `setting` and a `prefix` label: its own
    prefix, a latent-user model (VPL) on its scores, a training set on each of its parts, and prompt-only rows."""
    totals = person_totals(results, metric)
    rows = []
    for (train, test), part in totals.groupby(["train_method", "test_method"], sort=False):
        if train == "none":
            rows.append(part.assign(setting=PROMPT_ONLY, prefix=test))
        elif train == test or train in LATENT_METHODS:
            rows.append(part.assign(setting=FINE_TUNED, prefix=train))
        elif is_training_only(train) and test in split_training_set(train):
            rows.append(part.assign(setting=FINE_TUNED, prefix=f"{train}{TESTED_ON}{test}"))
    if not rows:
        return totals.iloc[:0].assign(setting=[], prefix=[])
    return pd.concat(rows, ignore_index=True)


def panel_rows(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(model, setting) pairs present, fine-tuned before prompt-only."""
    pairs = frame[["model", "setting"]].drop_duplicates()
    return sorted(map(tuple, pairs.to_numpy()), key=lambda p: (p[0], p[1] != FINE_TUNED))


@figure(
    "accuracy_by_prefix",
    "Accuracy by prefix: personal vs divergent questions, per base model",
    "accuracy",
    ("results", "metric"),
)
def accuracy_by_prefix(results: pd.DataFrame, path: Path, metric: str = "ref_free_avg") -> str:
    """Personal and divergent accuracy per prefix, one row of panels per (base model, fine-tuned | prompt-only);
    bar colour is the prefix kind, seen people solid and unseen hatched, 95% intervals resampling people."""
    own = own_prefix(results, metric)
    columns = [c for c in QUESTION_TYPES if c in own.columns]
    if own.empty or not columns:
        raise Skip(NO_OWN)
    rows = panel_rows(own)
    widest = max(own.groupby(["model", "setting"])["prefix"].nunique())
    fig, axes = plt.subplots(
        len(rows), len(columns), figsize=(min(5.4, 1.2 + 0.55 * widest) * len(columns), 3.6 * len(rows)), squeeze=False
    )
    rng = np.random.default_rng(0)
    for (model, setting), row_axes in zip(rows, axes, strict=True):
        part = own[(own["model"] == model) & (own["setting"] == setting)]
        order = ordered(part["prefix"])
        for column, ax in zip(columns, row_axes, strict=True):
            _bars(ax, part, column, order, rng)
            ax.set_title(f"{model} · {setting} · {column}", fontsize=10)
            ax.set_ylabel(f"accuracy ({metric})" if column == columns[0] else "")
    handles = kind_handles({kind(m.split(TESTED_ON)[0]) for m in own["prefix"]})
    handles += [
        Patch(facecolor="#999999", label="seen people"),
        Patch(facecolor="white", edgecolor="#555555", hatch="///", label="unseen people"),
    ]
    top_legend(fig, handles, "colour: prefix kind; fill: seen or unseen people")
    save_figure(fig, path)
    return (
        "Bars: mean over person-folds; whiskers: 95% interval resampling people; dotted line: chance. Fine-tuned rows "
        "test each model with its own prefix (VPL with its latent user, a training set with each of its parts)."
    )


def _bars(ax: plt.Axes, part: pd.DataFrame, column: str, order: list[str], rng: np.random.Generator) -> None:
    """Seen and unseen bars of one question type per prefix."""
    present = [seen for seen in (True, False) if (part["seen"] == seen).any()]
    width = 0.8 / len(present)
    for i, seen in enumerate(present):
        offset = (i - (len(present) - 1) / 2) * width
        for x, prefix in enumerate(order):
            cell = part[(part["prefix"] == prefix) & (part["seen"] == seen)]
            if cell.empty or cell[column].isna().all():
                continue
            mean, low, high = estimate(cell, column, rng)
            colour = label_colour(prefix)
            ax.bar(
                x + offset,
                mean,
                width,
                yerr=[[mean - low], [high - mean]],
                capsize=2,
                color=colour if seen else "white",
                edgecolor=colour,
                hatch=None if seen else "///",
                linewidth=1,
            )
    ax.set_xticks(range(len(order)), order, rotation=35, ha="right", fontsize=8)
    for label in ax.get_xticklabels():
        label.set_color(label_colour(label.get_text()))
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_ylim(0, 1)
    ax.set_xlim(-0.6, len(order) - 0.4)


@figure(
    "per_person",
    "Per-person accuracy by prefix",
    "accuracy",
    ("results", "metric"),
)
def per_person(results: pd.DataFrame, path: Path, metric: str = "ref_free_avg") -> str:
    """Box and strip plot of per-person total accuracy (folds averaged) per prefix: fine-tuned seen / unseen, and
    prompt-only."""
    own = own_prefix(results, metric)
    if own.empty:
        raise Skip(NO_OWN)
    people = own.groupby(["model", "setting", "seen", "prefix", "name"], as_index=False)["Total"].mean()
    panels = [
        (model, setting, seen)
        for (model, setting) in panel_rows(people)
        for seen in (True, False)
        if ((people["model"] == model) & (people["setting"] == setting) & (people["seen"] == seen)).any()
    ]
    columns = min(3, len(panels))
    rows = int(np.ceil(len(panels) / columns))
    widest = people.groupby(["model", "setting"])["prefix"].nunique().max()
    fig, axes = plt.subplots(rows, columns, figsize=(min(3.6, 1 + 0.4 * widest) * columns, 3.6 * rows), squeeze=False)
    for ax, (model, setting, seen) in zip(axes.flat, panels, strict=False):
        part = people[(people["model"] == model) & (people["setting"] == setting) & (people["seen"] == seen)]
        order = ordered(part["prefix"])
        palette = {p: label_colour(p) for p in order}
        sns.boxplot(
            data=part,
            x="prefix",
            y="Total",
            order=order,
            hue="prefix",
            palette=palette,
            ax=ax,
            showfliers=False,
            boxprops={"alpha": 0.45},
            legend=False,
        )
        sns.stripplot(data=part, x="prefix", y="Total", order=order, color="#222222", size=3, jitter=0.2, ax=ax)
        ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.set(
            title=f"{model} · {setting} · {seen_label(seen)}",
            xlabel="",
            ylabel="per-person total accuracy",
            ylim=(0, 1),
        )
        ax.tick_params(axis="x", rotation=35, labelsize=8)
        for label in ax.get_xticklabels():
            label.set_ha("right")
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_axis_off()
    top_legend(fig, kind_handles({kind(p.split(TESTED_ON)[0]) for p in people["prefix"]}), "prefix kind")
    save_figure(fig, path)
    return "One dot per person (their folds averaged); boxes: quartiles and median; dotted line: chance."
