"""One static HTML page per experiment with every table and figure (docs/design.md §12), built in one command.

`python -m analysis.report --experiment_dir dump/demo [--data data/synthetic_demo]` refreshes results.csv and the main
table, draws the figures into report/figures/, writes the bias and dataset tables under analysis/ (these two need
--data), collects attribution summaries found under the experiment, and writes report/index.html. A section whose
inputs are missing shows a note instead.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from trl import TrlParser

from analysis import behaviour, plots
from analysis.aggregate import NoScores, aggregate, formatted, main_table, paired_comparisons, read_results
from analysis.bias import BiasArguments, run_bias
from analysis.dataset_stats import dataset_stats
from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import exit_on_data_error
from famous_persona.io import read_json

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; font-size: 13px; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f2f2f2; }
img { max-width: 100%; border: 1px solid #eee; }
.note { color: #8a5a00; background: #fff6e0; padding: 6px 10px; }
"""
# Marks <body> once every image has loaded (data-images-loaded) or anything failed (data-error), for headless checks.
CHECK = """
window.addEventListener("error", function () { document.body.setAttribute("data-error", "1"); }, true);
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var ok = images.every(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute("data-image-count", String(images.length));
  document.body.setAttribute("data-images-loaded", ok ? "all" : "missing");
});
"""


@dataclass
class ReportArguments(BiasArguments):
    """The bias options, and a dataset that is optional: without it the bias and dataset sections are skipped."""

    data: str | None = field(default=None, metadata={"help": "Dataset dir; enables the bias and dataset sections."})


class Page:
    """Sections of the report, appended in order and written as one HTML file."""

    def __init__(self, title: str):
        self.title, self.parts = title, []

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def text(self, text: str, note: bool = False) -> None:
        self.parts.append(f"<p{' class=note' if note else ''}>{html.escape(text)}</p>")

    def table(self, frame: pd.DataFrame, caption: str | None = None) -> None:
        if caption:
            self.parts.append(f"<h3>{html.escape(caption)}</h3>")
        self.parts.append(frame.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="", border=0))

    def figure(self, path: Path, alt: str) -> None:
        self.parts.append(f'<p><img src="figures/{html.escape(path.name)}" alt="{html.escape(alt)}"></p>')

    def write(self, path: Path) -> Path:
        body = "\n".join(self.parts)
        page = (
            f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{html.escape(self.title)}</title>"
            f"<link rel=icon href='data:,'><style>{STYLE}</style><script>{CHECK}</script></head>\n"
            f"<body><h1>{html.escape(self.title)}</h1>\n{body}\n</body></html>\n"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
        return path


def _step(number: int, text: str) -> None:
    print(f"[report {number}/6] {text}", flush=True)


def _results(experiment_dir: Path, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fresh results.csv and main table from the scores when there are any; otherwise the stored results.csv."""
    try:
        table = aggregate(experiment_dir, metric)
    except NoScores:
        table = None
    results = read_results(experiment_dir)
    return results, table if table is not None else main_table(results, metric)


def _figure(page: Page, title: str, draw: Callable[[Path], object], path: Path) -> object:
    """Draw one figure into the page, or a note saying why it was skipped."""
    page.heading(title)
    try:
        value = draw(path)
    except plots.Skip as reason:
        page.text(f"Skipped: {reason}.", note=True)
        return None
    page.figure(path, title)
    return value


def _bias(page: Page, args: ReportArguments, figures: Path) -> None:
    page.heading("Bias: improvement of unseen people by demographic group")
    if args.data is None:
        page.text("Skipped: needs --data (the dataset's personas.jsonl carries the demographics).", note=True)
        return
    tables = run_bias(args)
    page.text(
        "Improvement = fine-tuned total accuracy with the run's own prefix minus the prompt-only accuracy with "
        "that prefix (or minus the no_prefix model of the same fold). Tests on person means; p-values adjusted "
        f"across all rows; 'significant' uses {args.correction}."
    )
    if tables["tests"].empty:
        page.text("No attribute has two groups of at least two unseen people with an improvement.", note=True)
    else:
        page.table(tables["tests"], "Tests per prefix and attribute (analysis/bias_tests.csv)")
    _figure(
        page,
        "Mean improvement per group (95% CI, people resampled)",
        lambda p: plots.bias_bars(tables["groups"], p),
        figures / "bias_groups.png",
    )


def _dataset(page: Page, args: ReportArguments) -> None:
    page.heading("Dataset statistics")
    if args.data is None:
        page.text("Skipped: needs --data.", note=True)
        return
    tables = dataset_stats(args.data, Path(args.experiment_dir) / "analysis")
    for name in ("axes", "answer_lengths", "prefix_lengths", "leakage", "disagreement"):
        page.table(tables[name], f"{name.replace('_', ' ')} (analysis/dataset_{name}.csv)")
    page.text(f"Pairs per person and split: analysis/dataset_counts.csv ({len(tables['counts'])} people).")


def _attribution(page: Page, experiment_dir: Path) -> None:
    page.heading("Attribution (sentence ablations + LASSO)")
    rows = []
    for path in sorted(experiment_dir.rglob("attribution/*/summary.json")):
        summary = read_json(path)
        for label in ("correct", "wrong"):
            rows.append({"run": str(path.parent.relative_to(experiment_dir)), "pairs of": label, **summary[label]})
    if not rows:
        page.text(
            "No attribution found: run `python -m analysis.attribution --model <run>/model --data <dataset> "
            "--test_method <method>` first.",
            note=True,
        )
        return
    page.table(pd.DataFrame(rows), "Mean margin, surrogate R², weight share and gold overlap of the top sentence")


def _behaviour(page: Page, results: pd.DataFrame, args: ReportArguments, figures: Path) -> None:
    """Reward accuracy beside what the models generate; shown only when judged generations exist."""
    metrics = behaviour.behavioural_metrics(results)
    if not metrics:
        return
    page.heading(f"Behaviour vs reward accuracy ({args.metric}; intervals resample people)")
    page.table(behaviour.correlation_table(results, args.metric, args.n_boot, args.seed))
    for metric in metrics:
        page.figure(behaviour.scatter(results, args.metric, metric, figures / f"behaviour_{metric}.png"), metric)


def build_report(args: ReportArguments) -> Path:
    """Every section in order; returns the path of index.html."""
    experiment_dir = Path(args.experiment_dir)
    figures = experiment_dir / "report" / "figures"
    page = Page(f"FamousPersona report: {experiment_dir.name}")
    _step(1, "results.csv and the main table")
    results, table = _results(experiment_dir, args.metric)
    page.heading(f"Main table ({args.metric}: mean over person-folds [95% interval resampling people]; ties wrong)")
    page.table(formatted(table))
    page.heading("Paired contrasts on the same people (Total accuracy difference; Holm-adjusted p)")
    page.table(paired_comparisons(results, args.metric), "persona prefixes vs no_prefix and xyw (paired.csv)")
    _step(2, "accuracy figures")
    _figure(
        page,
        "Total accuracy by prefix",
        lambda p: plots.accuracy_by_prefix(results, p, args.metric),
        figures / "accuracy_by_prefix.png",
    )
    scatter = _figure(
        page,
        "Fine-tuned vs prompt-only (unseen people)",
        lambda p: plots.tuned_vs_prompt(results, p, args.metric),
        figures / "tuned_vs_prompt.png",
    )
    if scatter:
        page.table(pd.DataFrame([scatter]), "Correlation")
    _figure(
        page,
        "Faithfulness: train prefix × test prefix",
        lambda p: plots.faithfulness_heatmap(results, p, args.metric),
        figures / "faithfulness.png",
    )
    _behaviour(page, results, args, figures)
    _step(3, "bias statistics")
    _bias(page, args, figures)
    _step(4, "dataset statistics")
    _dataset(page, args)
    _step(5, "attribution summaries")
    _attribution(page, experiment_dir)
    _step(6, "writing index.html")
    return page.write(experiment_dir / "report" / "index.html")


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("report", [ReportArguments], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (config,) = parse_config(parser or make_parser(), args)
    print(f"wrote {build_report(config)}")


if __name__ == "__main__":
    main()
