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
from analysis.report_attribution import attribution_runs, example_html, summary_table
from analysis.train_curves import training_curves
from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import exit_on_data_error
from famous_persona.io import write_text

STYLE = """
body { font-family: sans-serif; margin: 2em auto; padding: 0 1em; max-width: 1200px; color: #222; }
h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.scroll { overflow-x: auto; max-width: 100%; margin: 0.5em 0 1.5em; }
.tall { max-height: 36em; overflow-y: auto; }
table { border-collapse: collapse; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f2f2f2; position: sticky; top: 0; }
img { max-width: 100%; border: 1px solid #eee; }
.note { color: #8a5a00; background: #fff6e0; padding: 6px 10px; }
.caption { color: #555; font-size: 13px; margin-top: 0; }
.side { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
.side > div { flex: 1 1 420px; min-width: 0; }
.example { font-size: 13px; line-height: 1.6; border: 1px solid #ddd; padding: 6px 10px; }
"""
# Marks <body> once every image has loaded (data-images-loaded), with the page's overflow (data-overflow: "none" or
# the scroll width in pixels) and whether anything failed or was logged as an error (data-error), for headless checks.
CHECK = """
window.addEventListener("error", function () { document.body.setAttribute("data-error", "1"); }, true);
var reportError = console.error;
console.error = function () { document.body.setAttribute("data-error", "1"); reportError.apply(console, arguments); };
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var ok = images.every(function (i) { return i.complete && i.naturalWidth > 0; });
  var width = document.documentElement.scrollWidth;
  document.body.setAttribute("data-image-count", String(images.length));
  document.body.setAttribute("data-images-loaded", ok ? "all" : "missing");
  document.body.setAttribute("data-overflow", width <= window.innerWidth ? "none" : String(width));
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

    def text(self, text: str, style: str | None = None) -> None:
        self.parts.append(f"<p{f' class={style}' if style else ''}>{html.escape(text)}</p>")

    def note(self, text: str) -> None:
        self.text(text, "note")

    def table(self, frame: pd.DataFrame, caption: str | None = None, tall: bool = False) -> None:
        self.parts.append(table_html(frame, caption, tall))

    def figure(self, path: Path, alt: str, caption: str | None = None) -> None:
        self.parts.append(f'<p><img src="figures/{html.escape(path.name)}" alt="{html.escape(alt)}"></p>')
        if caption:
            self.text(caption, "caption")

    def raw(self, markup: str) -> None:
        self.parts.append(markup)

    def write(self, path: Path) -> Path:
        body = "\n".join(self.parts)
        page = (
            f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{html.escape(self.title)}</title>"
            f"<meta name=viewport content='width=device-width, initial-scale=1'>"
            f"<link rel=icon href='data:,'><style>{STYLE}</style><script>{CHECK}</script></head>\n"
            f"<body><h1>{html.escape(self.title)}</h1>\n{body}\n</body></html>\n"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, page)
        return path


def table_html(frame: pd.DataFrame, caption: str | None = None, tall: bool = False) -> str:
    """A table in a container that scrolls sideways when it is wider than the page (and, if tall, downwards past
    36 lines' height)."""
    title = f"<h3>{html.escape(caption)}</h3>" if caption else ""
    body = frame.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="", border=0)
    return f"{title}<div class='scroll{' tall' if tall else ''}'>{body}</div>"


def _step(number: int, text: str) -> None:
    print(f"[report {number}/{STEPS}] {text}", flush=True)


STEPS = 7


def _results(experiment_dir: Path, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fresh results.csv and main table from the scores when there are any; otherwise the stored results.csv."""
    try:
        table = aggregate(experiment_dir, metric)
    except NoScores:
        table = None
    results = read_results(experiment_dir)
    return results, table if table is not None else main_table(results, metric)


def _figure(page: Page, title: str, draw: Callable[[Path], object], path: Path) -> object:
    """Draw one figure into the page with the caption it returns, or a note saying why it was skipped."""
    page.heading(title)
    try:
        value = draw(path)
    except plots.Skip as reason:
        page.note(f"Skipped: {reason}.")
        return None
    page.figure(path, title, value if isinstance(value, str) else None)
    return value


def _accuracy(page: Page, results: pd.DataFrame, metric: str, figures: Path) -> None:
    """The accuracy figures: by prefix, per person, by shots, fine-tuned vs prompt-only, faithfulness."""
    _figure(
        page,
        "Accuracy by prefix: personal vs divergent questions, per base model",
        lambda p: plots.accuracy_by_prefix(results, p, metric),
        figures / "accuracy_by_prefix.png",
    )
    _figure(
        page,
        "Per-person accuracy by prefix",
        lambda p: plots.per_person(results, p, metric),
        figures / "per_person.png",
    )
    _figure(
        page,
        "Accuracy against the number of shots",
        lambda p: plots.accuracy_by_shots(results, p, metric),
        figures / "accuracy_by_shots.png",
    )
    scatter = _figure(
        page,
        "Fine-tuned vs prompt-only (unseen people)",
        lambda p: plots.tuned_vs_prompt(results, p, metric),
        figures / "tuned_vs_prompt.png",
    )
    if scatter:
        page.table(pd.DataFrame([scatter]), "Correlation")
    _figure(
        page,
        "Faithfulness: own, re-sampled, another person's and no prefix",
        lambda p: plots.faithfulness_heatmap(results, p, metric),
        figures / "faithfulness.png",
    )


def _quality(page: Page, args: ReportArguments, figures: Path) -> None:
    """Persona quality against shots, from the analysis.persona_quality rows of the experiment or the dataset."""
    experiment_dir = Path(args.experiment_dir)
    places = [experiment_dir / "analysis" / QUALITY_FILE, *([Path(args.data) / QUALITY_FILE] if args.data else [])]
    found = next((p for p in places if p.is_file()), None)
    if found is None:
        page.heading("Persona quality against the number of shots")
        page.note(
            f"No {QUALITY_FILE}: run `famous-persona persona-quality --data {args.data or '<dataset>'} --methods "
            f"persona_xy_1s persona_xy_2s persona_xy_4s --out {experiment_dir / 'analysis' / QUALITY_FILE}` after "
            "building those prefixes."
        )
        return
    _figure(
        page,
        "Persona quality against the number of shots",
        lambda p: f"{plots.quality_by_shots(pd.read_csv(found), p)} Rows: {found.name} ({found.parent.name}/).",
        figures / "quality_by_shots.png",
    )


def _curves(page: Page, experiment_dir: Path, figures: Path) -> None:
    _figure(
        page,
        "Training curves (train_log.jsonl of each run)",
        lambda p: training_curves(experiment_dir, p),
        figures / "training_curves.png",
    )


QUALITY_FILE = "persona_quality.csv"
"""analysis.persona_quality's per-person rows, looked for under <experiment>/analysis/, then in the dataset."""
BIAS_SHOWN = ["model", "train_method", "baseline", "attribute", "group sizes", "people", "eta2", "p_anova"]


def _bias_table(tables: dict[str, pd.DataFrame], correction: str) -> pd.DataFrame:
    """The tests with the group sizes and the adjusted p-values that decide, narrow enough to read."""
    tests, groups = tables["tests"], tables["groups"]
    keys = ["model", "train_method", "baseline", "attribute"]
    sizes = groups.groupby(keys)[["group", "people"]].apply(
        lambda g: ", ".join(f"{a}: {b}" for a, b in g.itertuples(index=False))
    )
    shown = tests.merge(sizes.rename("group sizes").reset_index(), on=keys, how="left")
    columns = [*BIAS_SHOWN, f"p_anova_{correction}", "epsilon2", "p_kw", f"p_kw_{correction}", "significant"]
    shown = shown[columns].copy()
    shown["untestable / note"] = (
        tests["untestable"].astype(str) + " " + tests["note"].fillna("").astype(str)
    ).str.strip()
    return shown.rename(columns={"baseline": "baseline (marked per prefix)"})


def _bias(page: Page, args: ReportArguments, figures: Path) -> None:
    page.heading("Bias: improvement of unseen people by demographic group")
    if args.data is None:
        page.note("Skipped: needs --data (the dataset's personas.jsonl carries the demographics).")
        return
    tables = run_bias(args)
    page.text(
        "Improvement = fine-tuned total accuracy with the run's own prefix minus the prompt-only accuracy with "
        "that prefix (or minus the no_prefix model of the same fold); the baseline column says which. Tests on "
        f"person means; p-values adjusted across all rows; 'significant' uses {args.correction}. Group sizes are "
        "people per group; every column is in analysis/bias_tests.csv."
    )
    if tables["tests"].empty:
        page.note("No attribute has two groups of at least two unseen people with an improvement.")
    else:
        page.table(_bias_table(tables, args.correction), "Tests per prefix and attribute", tall=True)
    _figure(
        page,
        "Mean improvement per group (95% CI, people resampled)",
        lambda p: plots.bias_bars(tables["groups"], p),
        figures / "bias_groups.png",
    )


def _dataset(page: Page, args: ReportArguments) -> None:
    page.heading("Dataset statistics")
    if args.data is None:
        page.note("Skipped: needs --data.")
        return
    tables = dataset_stats(args.data, Path(args.experiment_dir) / "analysis")
    for name in ("axes", "answer_lengths", "prefix_lengths", "leakage", "disagreement"):
        page.table(tables[name], f"{name.replace('_', ' ')} (analysis/dataset_{name}.csv)")
    page.text(f"Pairs per person and split: analysis/dataset_counts.csv ({len(tables['counts'])} people).")


def _attribution(page: Page, experiment_dir: Path) -> None:
    page.heading("Attribution (sentence ablations + LASSO)")
    found = attribution_runs(experiment_dir)
    if not found:
        page.note(
            "No attribution found: run `python -m analysis.attribution --model <run>/model --data <dataset> "
            "--test_method <method>` first."
        )
        return
    page.text(
        "Per method: the mean margin, surrogate R², weight share and gold overlap of the top sentence over correctly "
        "and wrongly ranked pairs, beside the pair its surrogate explains best, each sentence shaded by its weight."
    )
    for method, runs in found.items():
        page.raw(
            f"<h3>{html.escape(method)}</h3><div class=side><div>{table_html(summary_table(runs))}</div>"
            f"<div>{example_html(runs)}</div></div>"
        )


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
    _accuracy(page, results, args.metric, figures)
    _behaviour(page, results, args, figures)
    _step(3, "persona quality and training curves")
    _quality(page, args, figures)
    _curves(page, experiment_dir, figures)
    _step(4, "bias statistics")
    _bias(page, args, figures)
    _step(5, "dataset statistics")
    _dataset(page, args)
    _step(6, "attribution summaries")
    _attribution(page, experiment_dir)
    _step(7, "writing index.html")
    return page.write(experiment_dir / "report" / "index.html")


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("report", [ReportArguments], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (config,) = parse_config(parser or make_parser(), args)
    print(f"wrote {build_report(config)}")


if __name__ == "__main__":
    main()
