"""A model under test prefixes other than its own training: fine-tuned against prompt-only accuracy, and the
faithfulness probes (own, re-sampled, another person's and no prefix)."""

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
from analysis.figures.registry import Skip, figure  # noqa: E402
from analysis.figures.style import save_figure, seen_label  # noqa: E402
from analysis.statistics import ROLES, prefix_role  # noqa: E402


@figure(
    "tuned_vs_prompt",
    "Fine-tuned vs prompt-only (unseen people)",
    "accuracy",
    ("results", "metric"),
    summary="Correlation",
)
def tuned_vs_prompt(results: pd.DataFrame, path: Path, metric: str = "ref_free_avg") -> dict[str, int | float]:
    """Scatter of unseen people's own-prefix fine-tuned accuracy against the prompt-only accuracy with that prefix."""
    totals = person_totals(results, metric)
    unseen = totals[~totals["seen"].astype(bool)]
    prompt = unseen[unseen["train_method"] == "none"].groupby(["model", "test_method", "name"])["Total"].mean()
    tuned = unseen[(unseen["train_method"] != "none") & (unseen["test_method"] == unseen["train_method"])]
    tuned = tuned.groupby(["model", "test_method", "name"])["Total"].mean()
    both = pd.concat({"prompt": prompt, "tuned": tuned}, axis=1, join="inner").reset_index()
    if len(both) < 3:
        raise Skip(
            "fewer than three unseen people have both a prompt-only and a fine-tuned accuracy for one prefix (run "
            "experiments/prompt_baseline.sh beside experiments/cv.sh)"
        )
    pearson = stats.pearsonr(both["prompt"], both["tuned"]) if both[["prompt", "tuned"]].std().min() > 0 else None
    fig, ax = plt.subplots(figsize=(5.5, 5))
    both["prefix"] = both["model"] + " · " + both["test_method"]
    sns.scatterplot(data=both, x="prompt", y="tuned", hue="prefix", ax=ax)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    r = float(pearson.statistic) if pearson else float("nan")
    ax.set(xlabel="prompt-only total accuracy", ylabel="fine-tuned total accuracy", title=f"unseen people, r = {r:.2f}")
    ax.legend(fontsize=7, title="model · prefix", title_fontsize=8)
    save_figure(fig, path)
    return {"points": len(both), "pearson_r": r, "pearson_p": float(pearson.pvalue) if pearson else float("nan")}


def faithfulness_grid(results: pd.DataFrame, metric: str = "ref_free_avg") -> pd.DataFrame:
    """Mean total accuracy per (model, train prefix, probe folds, seen) × role, from the probe's folds only: the
    folds in which that model was tested with a prefix other than its own. A cell without scores for every one of
    those folds is NaN."""
    totals = person_totals(results, metric)
    totals = totals[totals["train_method"] != "none"].copy()
    totals["role"] = [prefix_role(a, b) for a, b in zip(totals["train_method"], totals["test_method"], strict=True)]
    totals = totals.dropna(subset=["role"])
    rows = []
    for (model, train), part in totals.groupby(["model", "train_method"], sort=True):
        folds = sorted(part.loc[part["role"] != "own", "fold"].unique())
        if not folds:
            continue
        part = part[part["fold"].isin(folds)]
        for seen in (True, False):
            cells = part[part["seen"] == seen]
            row = {"model": model, "train_method": train, "folds": ", ".join(map(str, folds)), "seen": seen}
            for role in ROLES:
                cell = cells[cells["role"] == role]
                complete = set(cell["fold"]) == set(folds)
                row[role] = cell["Total"].mean() if complete else np.nan
            rows.append(row)
    return pd.DataFrame(rows, columns=["model", "train_method", "folds", "seen", *ROLES])


@figure(
    "faithfulness",
    "Faithfulness: own, re-sampled, another person's and no prefix",
    "accuracy",
    ("results", "metric"),
)
def faithfulness_heatmap(results: pd.DataFrame, path: Path, metric: str = "ref_free_avg") -> str:
    """Rows: train prefix (its folds named); columns: own, re-sampled, another person's, none; seen | unseen."""
    grid = faithfulness_grid(results, metric)
    if grid.empty:
        raise Skip(
            "no model was tested with a re-sampled, another person's or no prefix (run experiments/faithfulness.sh)"
        )
    several = grid["model"].nunique() > 1
    grid["row"] = [
        f"{m + ' · ' if several else ''}{t} (fold {f})" for m, t, f in grid[["model", "train_method", "folds"]].values
    ]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.55 * grid["row"].nunique() + 2.2), squeeze=False, sharey=True)
    for ax, seen in zip(axes[0], (True, False), strict=True):
        panel = grid[grid["seen"] == seen].set_index("row")[list(ROLES)]
        sns.heatmap(
            panel.astype(float),
            annot=True,
            fmt=".2f",
            vmin=0,
            vmax=1,
            cmap="viridis",
            cbar=not seen,
            linewidths=0.5,
            linecolor="white",
            ax=ax,
        )
        ax.set(title=f"{seen_label(seen)} people", xlabel="test prefix", ylabel="train prefix" if seen else "")
        ax.set_xticks(np.arange(len(ROLES)) + 0.5, [role.replace(" ", "\n", 1) for role in ROLES], rotation=0)
    fig.tight_layout()
    save_figure(fig, path)
    return (
        "Mean total accuracy over person-folds. Each row uses only the folds in which its model was tested with a "
        "prefix other than its own (named in the row label); a blank cell has no scores for all of those folds and "
        "is never filled from other folds."
    )
