"""The paper's figures as PNG files, drawn from results.csv and the bias tables (docs/design.md §12).

A figure whose inputs are missing raises `Skip` with the reason, which the report prints in place of the figure.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from scipy import stats  # noqa: E402

from analysis.aggregate import person_totals  # noqa: E402
from famous_persona.errors import DataError  # noqa: E402
from famous_persona.methods import is_training_only, parse_method  # noqa: E402

KIND_COLOURS = {
    "none": "#555555",
    "named": "#1f77b4",
    "passive": "#2ca02c",
    "active": "#d62728",
    "mixed": "#ff7f0e",
    "control": "#9467bd",
}
KIND_ORDER = list(KIND_COLOURS)


class Skip(Exception):
    """A figure that cannot be drawn from these results; the message says why."""


def kind(method: str) -> str:
    """Prefix kind (none/named/passive/active/mixed/control): mixed for a training set of several parts or the persona
    task, passive for methods outside the grammar (e.g. vpl)."""
    if is_training_only(method):
        return "mixed"
    try:
        return parse_method(method).kind
    except DataError:
        return "passive"


def _ordered(methods: pd.Series) -> list[str]:
    return sorted(methods.unique(), key=lambda m: (KIND_ORDER.index(kind(m)), m))


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def accuracy_by_prefix(results: pd.DataFrame, path: Path, metric: str = "ref_free_avg") -> Path:
    """Total accuracy per prefix (own-prefix fine-tuning, and prompt-only), seen vs unseen; ticks coloured by kind."""
    totals = person_totals(results, metric)
    own = totals[(totals["test_method"] == totals["train_method"]) | (totals["train_method"] == "none")].copy()
    if own.empty:
        raise Skip("no run was tested with its own prefix and there are no prompt-only rows")
    own["setting"] = np.where(own["train_method"] == "none", "prompt-only", "fine-tuned")
    own["people"] = own["seen"].map({True: "seen", False: "unseen"})
    settings = sorted(own["setting"].unique())
    fig, axes = plt.subplots(1, len(settings), figsize=(6 * len(settings), 4), squeeze=False)
    for ax, setting in zip(axes[0], settings, strict=True):
        part = own[own["setting"] == setting]
        order = _ordered(part["test_method"])
        sns.barplot(
            data=part,
            x="test_method",
            y="Total",
            hue="people",
            order=order,
            hue_order=["seen", "unseen"],
            errorbar=("ci", 95),
            seed=0,
            ax=ax,
        )
        for label in ax.get_xticklabels():
            label.set_color(KIND_COLOURS[kind(label.get_text())])
        ax.tick_params(axis="x", rotation=30)
        ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.set(title=f"{setting} (tick colour: prefix kind)", xlabel="prefix", ylabel=f"total accuracy ({metric})")
    return _save(fig, path)


def tuned_vs_prompt(results: pd.DataFrame, path: Path, metric: str = "ref_free_avg") -> dict[str, int | float]:
    """Scatter of unseen people's own-prefix fine-tuned accuracy against the prompt-only accuracy with that prefix."""
    totals = person_totals(results, metric)
    unseen = totals[~totals["seen"].astype(bool)]
    prompt = unseen[unseen["train_method"] == "none"].groupby(["model", "test_method", "name"])["Total"].mean()
    tuned = unseen[(unseen["train_method"] != "none") & (unseen["test_method"] == unseen["train_method"])]
    tuned = tuned.groupby(["model", "test_method", "name"])["Total"].mean()
    both = pd.concat({"prompt": prompt, "tuned": tuned}, axis=1, join="inner").reset_index()
    if len(both) < 3:
        raise Skip("fewer than three unseen people have both a prompt-only and a fine-tuned accuracy for one prefix")
    pearson = stats.pearsonr(both["prompt"], both["tuned"]) if both[["prompt", "tuned"]].std().min() > 0 else None
    fig, ax = plt.subplots(figsize=(5, 5))
    sns.scatterplot(data=both, x="prompt", y="tuned", hue="test_method", ax=ax)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    r = float(pearson.statistic) if pearson else float("nan")
    ax.set(xlabel="prompt-only total accuracy", ylabel="fine-tuned total accuracy", title=f"unseen people, r = {r:.2f}")
    _save(fig, path)
    return {"points": len(both), "pearson_r": r, "pearson_p": float(pearson.pvalue) if pearson else float("nan")}


def faithfulness_heatmap(results: pd.DataFrame, path: Path, metric: str = "ref_free_avg") -> Path:
    """Mean total accuracy of each train prefix (rows) under each test prefix (columns), seen and unseen people."""
    totals = person_totals(results, metric)
    tuned = totals[totals["train_method"] != "none"]
    if tuned.empty or tuned.groupby("train_method")["test_method"].nunique().max() < 2:
        raise Skip("no model was tested with more than one prefix")
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.6 * tuned["train_method"].nunique() + 3), squeeze=False)
    for ax, seen in zip(axes[0], (True, False), strict=True):
        grid = tuned[tuned["seen"] == seen].pivot_table(index="train_method", columns="test_method", values="Total")
        if grid.empty:
            ax.set_axis_off()
            continue
        sns.heatmap(grid, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="viridis", ax=ax)
        ax.set(title=f"{'seen' if seen else 'unseen'} people", xlabel="test prefix", ylabel="train prefix")
    return _save(fig, path)


def bias_bars(groups: pd.DataFrame, path: Path) -> Path:
    """Mean improvement per demographic group and prefix, with person-clustered bootstrap 95% CIs."""
    if groups.empty:
        raise Skip("no improvement could be computed (no unseen people with a baseline, or no demographics)")
    attributes = sorted(groups["attribute"].unique())
    columns = min(3, len(attributes))
    rows = int(np.ceil(len(attributes) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.5 * rows), squeeze=False)
    prefixes = sorted(groups["train_method"].unique())
    width = 0.8 / len(prefixes)
    for ax, attribute in zip(axes.flat, attributes, strict=False):
        part = groups[groups["attribute"] == attribute]
        levels = sorted(part["group"].unique())
        for i, prefix in enumerate(prefixes):
            bars = part[part["train_method"] == prefix].set_index("group").reindex(levels)
            x = np.arange(len(levels)) + (i - (len(prefixes) - 1) / 2) * width
            error = np.vstack([bars["mean"] - bars["ci_low"], bars["ci_high"] - bars["mean"]])
            ax.bar(x, bars["mean"], width, yerr=error, capsize=2, label=prefix)
        ax.set_xticks(np.arange(len(levels)), levels, rotation=30, ha="right")
        ax.axhline(0, color="grey", linewidth=1)
        ax.set(title=attribute, ylabel="improvement")
    for ax in list(axes.flat)[len(attributes) :]:
        ax.set_axis_off()
    axes.flat[0].legend(fontsize=7, title="prefix")
    return _save(fig, path)
