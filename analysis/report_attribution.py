"""The report's attribution section (analysis.attribution outputs): per test method a summary table and one pair
shown sentence by sentence, each shaded by its LASSO weight (green raises the chosen-minus-rejected margin, red
lowers it)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from famous_persona.io import read_json, read_rows

GAIN, LOSS = (44, 160, 44), (214, 39, 40)


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
