"""Reward accuracy against a behavioural metric per person, one panel per method, seen and unseen people apart."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.aggregate import KEYS, reward_and_behaviour  # noqa: E402
from analysis.figures.registry import figure  # noqa: E402
from analysis.figures.style import save_figure  # noqa: E402


@figure(
    "behaviour",
    "Reward accuracy against {behaviour}, per person",
    "behaviour",
    ("results", "metric", "behaviour"),
)
def scatter(results: pd.DataFrame, metric: str, behaviour: str, path: Path) -> str:
    """One dot per person and run, a panel per method; the page draws one per behavioural metric."""
    units = reward_and_behaviour(results, metric, behaviour)
    methods = sorted(units.groupby(KEYS).groups)
    columns = min(4, len(methods))
    rows = -(-len(methods) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3 * rows), squeeze=False, sharex=True, sharey=True)
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
    fig.supxlabel(f"reward accuracy ({metric})")
    fig.supylabel(behaviour)
    fig.tight_layout()
    save_figure(fig, path)
    return "One dot per person and run, a panel per train → test prefix; blue: seen people, red: unseen."
