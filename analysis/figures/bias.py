"""The bias figure: mean improvement of unseen people per demographic group, from analysis.bias's tables."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.figures.registry import Skip, figure  # noqa: E402
from analysis.figures.style import distinct_colours, save_figure  # noqa: E402


@figure(
    "bias_groups",
    "Mean improvement per group (95% CI, people resampled)",
    "bias",
    ("bias_groups",),
)
def bias_bars(bias_groups: pd.DataFrame, path: Path) -> str:
    """Mean improvement per demographic group and prefix (person-clustered bootstrap 95% CIs), one panel per model
    and attribute, each with its legend; the legend names the baseline of each prefix and ticks the group sizes."""
    if bias_groups.empty:
        raise Skip(
            "no improvement could be computed: no unseen people with a baseline (prompt-only scores from "
            "experiments/prompt_baseline.sh, or a no_prefix run of the same fold), or no demographics"
        )
    panels = sorted(map(tuple, bias_groups[["model", "attribute"]].drop_duplicates().to_numpy()))
    columns = min(2, len(panels))
    rows = int(np.ceil(len(panels) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(5.6 * columns, 3.2 * rows), squeeze=False)
    prefixes = sorted(bias_groups[["train_method", "baseline"]].drop_duplicates().itertuples(index=False, name=None))
    colours = distinct_colours(prefixes)
    several = bias_groups["model"].nunique() > 1
    for ax, (model, attribute) in zip(axes.flat, panels, strict=False):
        part = bias_groups[(bias_groups["model"] == model) & (bias_groups["attribute"] == attribute)]
        levels = sorted(part["group"].unique())
        shown = [p for p in prefixes if ((part["train_method"] == p[0]) & (part["baseline"] == p[1])).any()]
        width = 0.8 / len(shown)
        for i, (prefix, baseline) in enumerate(shown):
            bars = part[(part["train_method"] == prefix) & (part["baseline"] == baseline)].set_index("group")
            bars = bars.reindex(levels)
            x = np.arange(len(levels)) + (i - (len(shown) - 1) / 2) * width
            error = np.vstack([bars["mean"] - bars["ci_low"], bars["ci_high"] - bars["mean"]])
            ax.bar(
                x,
                bars["mean"],
                width,
                yerr=error,
                capsize=2,
                color=colours[(prefix, baseline)],
                label=f"{prefix} (vs {baseline})",
            )
        sizes = part.groupby("group")["people"].agg(["min", "max"]).reindex(levels)
        ticks = [f"{g} (n={lo})" if lo == hi else f"{g} (n={lo}-{hi})" for g, lo, hi in sizes.itertuples()]
        ax.set_xticks(np.arange(len(levels)), ticks, fontsize=7, rotation=30, ha="right")
        ax.axhline(0, color="grey", linewidth=1)
        ax.set(title=f"{model + ' · ' if several else ''}{attribute}", ylabel="improvement")
        ax.legend(fontsize=6, title="prefix (baseline)", title_fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1))
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_axis_off()
    fig.tight_layout()
    save_figure(fig, path)
    return (
        "Improvement of unseen people = fine-tuned accuracy with the run's own prefix minus its baseline (named in "
        "each legend); n beside a group: its people; whiskers: 95% interval resampling people."
    )
