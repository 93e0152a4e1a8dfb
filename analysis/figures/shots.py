"""Accuracy and persona quality against the number of shots, one line per prefix family (seeds pooled), with a
band that resamples people."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import ScalarFormatter  # noqa: E402

from analysis.figures.accuracy import own_prefix, panel_rows  # noqa: E402
from analysis.figures.registry import Skip, figure  # noqa: E402
from analysis.figures.style import distinct_colours, estimate, save_figure, top_legend  # noqa: E402
from famous_persona.errors import DataError  # noqa: E402
from famous_persona.families import family  # noqa: E402
from famous_persona.methods import parse_method  # noqa: E402

QUALITY_MEASURES = {
    "rouge_l": "ROUGE-L to gold",
    "embedding_cosine": "embedding cosine to gold",
    "attribute_precision": "attribute precision",
    "attribute_recall": "attribute recall",
}


def _series(method: str) -> tuple[str, int] | None:
    """(series label with {k} for the shot count, shots) for a shot-taking, unshuffled method; None otherwise."""
    try:
        parsed = parse_method(method)
    except DataError:
        return None
    if parsed.shots is None or parsed.shuffle or not family(parsed.family).shots:
        return None
    label = f"{parsed.family}_{{k}}s" + "".join(
        f"_{part}" for part in (parsed.model, parsed.retrieval, "reverse" if parsed.reverse else None) if part
    )
    return label, parsed.shots


def _with_series(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Rows of shot-taking methods with their `series` and `shots`; seeds of one series are pooled."""
    found = [_series(m) for m in frame[column]]
    keep = [f is not None for f in found]
    frame = frame[keep].copy()
    frame["series"] = [f[0] for f in found if f]
    frame["shots"] = [f[1] for f in found if f]
    return frame


def _enough_shots(frame: pd.DataFrame, command: str) -> None:
    if frame.empty or frame.groupby("series")["shots"].nunique().max() < 2:
        raise Skip(f"fewer than two shot counts of one prefix family ({command})")


def _series_lines(ax: plt.Axes, frame: pd.DataFrame, value: str, colours: dict, style: str, label: str) -> None:
    """Mean and 95% people-resampled band per shot count, one line per series."""
    rng = np.random.default_rng(0)
    for series, part in frame.groupby("series"):
        points = sorted(part["shots"].unique())
        estimates = np.array([estimate(part[part["shots"] == k], value, rng) for k in points])
        ax.plot(points, estimates[:, 0], style, marker="o", color=colours[series], label=f"{series}{label}")
        ax.fill_between(points, estimates[:, 1], estimates[:, 2], color=colours[series], alpha=0.12)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(frame["shots"].unique()))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.minorticks_off()


@figure(
    "accuracy_by_shots",
    "Accuracy against the number of shots",
    "accuracy",
    ("results", "metric"),
)
def accuracy_by_shots(results: pd.DataFrame, path: Path, metric: str = "ref_free_avg") -> str:
    """Total accuracy against the number of shots of each xyw / persona_xy (...) family, seen solid, unseen dashed;
    a panel per (base model, fine-tuned | prompt-only) that has a family at two or more shot counts."""
    own = _with_series(own_prefix(results, metric), "prefix")
    counts = own.groupby(["model", "setting", "series"])["shots"].transform("nunique")
    own = own[counts >= 2]
    _enough_shots(own, "e.g. experiments/cv.sh --methods xyw_1s xyw_2s xyw_4s")
    panels = panel_rows(own)
    colours = distinct_colours(own["series"])
    columns = min(2, len(panels))
    rows = int(np.ceil(len(panels) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 3.6 * rows), squeeze=False)
    for ax, (model, setting) in zip(axes.flat, panels, strict=False):
        part = own[(own["model"] == model) & (own["setting"] == setting)]
        for seen, style in ((True, "-"), (False, "--")):
            _series_lines(ax, part[part["seen"] == seen], "Total", colours, style, "")
        ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.set(title=f"{model} · {setting}", xlabel="shots (k)", ylabel=f"total accuracy ({metric})", ylim=(0, 1))
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_axis_off()
    handles = [plt.Line2D([], [], color=c, marker="o", label=s) for s, c in colours.items()]
    handles += [
        plt.Line2D([], [], color="#555555", linestyle=st, label=lb) for st, lb in (("-", "seen"), ("--", "unseen"))
    ]
    top_legend(fig, handles, "prefix family (seeds pooled)")
    save_figure(fig, path)
    return "Total accuracy per shot count (seeds of one prefix pooled); band: 95% interval resampling people."


@figure(
    "quality_by_shots",
    "Persona quality against the number of shots",
    "quality",
    ("quality_file",),
)
def quality_by_shots(quality_file: Path, path: Path) -> str:
    """Each persona-quality measure (analysis.persona_quality rows) against the number of shots, one line per family;
    the caption names the file the rows came from."""
    frame = _with_series(pd.read_csv(quality_file), "method")
    _enough_shots(frame, "e.g. famous-persona persona-quality --methods persona_xy_1s persona_xy_2s persona_xy_4s")
    measures = [m for m in QUALITY_MEASURES if m in frame and frame[m].notna().any()]
    colours = distinct_colours(frame["series"])
    fig, axes = plt.subplots(1, len(measures), figsize=(3.2 * len(measures), 3.3), squeeze=False)
    for ax, measure in zip(axes[0], measures, strict=True):
        _series_lines(ax, frame, measure, colours, "-", "")
        ax.set(title=QUALITY_MEASURES[measure], xlabel="shots (k)", ylim=(0, 1.02))
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
    return (
        "Mean over people of each inferred persona against the gold one; band: 95% interval resampling people. "
        f"Rows: {quality_file.name} ({quality_file.parent.name}/)."
    )
