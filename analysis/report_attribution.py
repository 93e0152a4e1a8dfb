"""The report's attribution section (analysis.attribution outputs): per test method a summary table, one pair
shown sentence by sentence, each shaded by its LASSO weight (green raises the chosen-minus-rejected margin, red
lowers it), and the success-vs-failure contrast: which kind of sentence carries the margin on correctly and on wrongly
ranked pairs, as a table and a figure."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from famous_persona.io import read_json, read_rows, save_figure  # noqa: E402

GAIN, LOSS = (44, 160, 44), (214, 39, 40)
OUTCOMES = {"correct": "#2ca02c", "wrong": "#d62728"}
KINDS = ("chosen", "rejected", "question", "unrelated")
"""analysis.attribution's sentence kinds: more words shared with the chosen answer, with the rejected one, with the
question only, or nothing."""


@dataclass(frozen=True)
class AttributionRun:
    """One attribution output folder: the run it explains, its summary and its per-pair weights."""

    run: str
    summary: dict
    weights: Path


def attribution_runs(experiment_dir: Path) -> dict[str, list[AttributionRun]]:
    """Attribution outputs under the experiment, grouped by the test method whose sentences were ablated."""
    found: dict[str, list[AttributionRun]] = {}
    for path in sorted(experiment_dir.rglob("attribution/*/summary.json")):
        summary = read_json(path)
        method = summary.get("test_method", path.parent.name)
        run = str(path.parent.parent.parent.relative_to(experiment_dir))
        found.setdefault(method, []).append(AttributionRun(run, summary, path.with_name("weights.jsonl")))
    return found


def summary_table(runs: list[AttributionRun]) -> pd.DataFrame:
    """Means over correctly and wrongly ranked pairs, one row per run and outcome."""
    rows = [
        {"run": run.run, "pairs of": label, **run.summary[label]}
        for run in runs
        for label in ("correct", "wrong")
        if label in run.summary
    ]
    return pd.DataFrame(rows)


def _best_explained(runs: list[AttributionRun]) -> tuple[AttributionRun, dict] | None:
    """The pair whose surrogate fits best (highest R², then the larger margin), over every run of the method."""
    rows = [(run, row) for run in runs if run.weights.is_file() for row in read_rows(run.weights)]
    if not rows:
        return None
    return max(rows, key=lambda item: (item[1].get("r2", 0.0), abs(item[1].get("full_margin", 0.0))))


def shade(weight: float, scale: float) -> str:
    """Background colour of a sentence: hue by sign, opacity by |weight| relative to the pair's largest."""
    if not scale or not weight:
        return "transparent"
    red, green, blue = GAIN if weight > 0 else LOSS
    return f"rgba({red}, {green}, {blue}, {0.12 + 0.6 * abs(weight) / scale:.2f})"


def example_html(runs: list[AttributionRun]) -> str:
    """One highlighted pair of the method, or a line saying no weights.jsonl was found."""
    best = _best_explained(runs)
    if best is None:
        return "<p class=note>No weights.jsonl beside the summaries: rerun analysis.attribution.</p>"
    run, row = best
    scale = max((abs(w) for w in row["weights"]), default=0.0)
    spans = "".join(
        f'<span style="background: {shade(w, scale)}" title="weight {w:+.3f}">{html.escape(s)}</span>'
        for s, w in zip(row["sentences"], row["weights"], strict=True)
    )
    outcome = "ranked correctly" if row.get("correct") else "ranked wrongly"
    head = (
        f"{html.escape(run.run)}, pair {html.escape(str(row['id']))} ({html.escape(str(row.get('name', '')))}, "
        f"{html.escape(str(row.get('question_type', '')))}): margin {row['full_margin']:+.3f}, {outcome}, "
        f"R² {row.get('r2', float('nan')):.2f}"
    )
    key = "green raises the margin of the chosen answer, red lowers it; the stronger the shade, the larger the weight"
    return f"<p class=caption>{head}</p><div class=example>{spans}</div><p class=caption>{key}</p>"


def _typed_rows(runs: list[AttributionRun]) -> list[dict]:
    """Every explained pair of the method's runs whose sentences carry kinds (older outputs have none)."""
    return [row for run in runs if run.weights.is_file() for row in read_rows(run.weights) if "kinds" in row]


def _carried(row: dict, kind: str) -> float:
    return sum(w for w, k in zip(row["weights"], row["kinds"], strict=True) if k == kind)


def contrast_table(runs: list[AttributionRun]) -> pd.DataFrame:
    """Per sentence kind and outcome: pairs, the mean summed weight of those sentences (± its standard error) and
    the share of pairs whose top sentence is of that kind; pairs of every run of the method together."""
    rows = _typed_rows(runs)
    table = []
    for kind in KINDS:
        entry: dict = {"sentence kind": kind}
        for outcome in OUTCOMES:
            part = [row for row in rows if row["correct"] == (outcome == "correct")]
            carried = np.array([_carried(row, kind) for row in part])
            entry[f"{outcome} pairs"] = len(part)
            entry[f"weight, {outcome}"] = carried.mean() if len(part) else np.nan
            entry[f"± se, {outcome}"] = carried.std(ddof=1) / np.sqrt(len(part)) if len(part) > 1 else np.nan
            entry[f"top share, {outcome}"] = (
                np.mean([row["kinds"][row["top"]] == kind for row in part]) if part else np.nan
            )
        table.append(entry)
    return pd.DataFrame(table)


def contrast_figure(table: pd.DataFrame, method: str, path: Path) -> Path:
    """Bars of the mean summed weight per sentence kind, correctly beside wrongly ranked pairs, with ±1 standard
    error."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    positions = np.arange(len(table))
    for offset, (outcome, colour) in zip((-0.2, 0.2), OUTCOMES.items(), strict=True):
        ax.bar(
            positions + offset,
            table[f"weight, {outcome}"].fillna(0),
            0.4,
            yerr=table[f"± se, {outcome}"].fillna(0),
            color=colour,
            label=f"{outcome} pairs (n={int(table[f'{outcome} pairs'].iloc[0])})",
        )
    ax.axhline(0, color="#444", linewidth=0.8)
    ax.set_xticks(positions, table["sentence kind"])
    ax.set_ylabel("summed LASSO weight per pair")
    ax.set_title(f"{method}: which sentences carry the margin")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path


def contrast_html(method: str, runs: list[AttributionRun], figures: Path) -> str:
    """The contrast table and figure of one method (its figure written into `figures`), or a note when no output
    types its sentences."""
    table = contrast_table(runs)
    if not int(table["correct pairs"].iloc[0] + table["wrong pairs"].iloc[0]):
        return "<p class=note>No typed sentences in weights.jsonl: rerun analysis.attribution for the contrast.</p>"
    path = contrast_figure(table, method, figures / f"attribution_contrast_{method}.png")
    caption = (
        "Success vs failure: the margin each kind of sentence carries on correctly and wrongly ranked pairs "
        "(chosen/rejected: shares more words with that answer; question: only with the question; unrelated: "
        "neither), and how often it is the top sentence."
    )
    table_markup = table.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="", border=0)
    return (
        f"<p class=caption>{html.escape(caption)}</p><div class=scroll>{table_markup}</div>"
        f'<p><img src="figures/{html.escape(path.name)}" alt="attribution contrast, {html.escape(method)}"></p>'
    )
