"""One static HTML page per experiment with every table and figure (docs/design.md §12), built in one command.

`python -m analysis.report --experiment_dir dump/demo [--data data/synthetic_demo]` refreshes results.csv and the main
table, draws the figures into report/figures/, writes the bias and dataset tables under analysis/ (these two need
--data), collects attribution summaries found under the experiment, and writes report/index.html. A section whose
inputs are missing shows a note instead.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from trl import TrlParser

from analysis import behaviour
from analysis.aggregate import NoScores, aggregate, formatted, main_table, paired_comparisons, read_results
from analysis.bias import BiasArguments, run_bias
from analysis.dataset_stats import dataset_stats
from analysis.page import Page, table_html
from analysis.report_attribution import attribution_runs, contrast_html, example_html, summary_table
from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import exit_on_data_error


@dataclass
class ReportArguments(BiasArguments):
    """The bias options, and a dataset that is optional: without it the bias and dataset sections are skipped."""

    data: str | None = field(default=None, metadata={"help": "Dataset dir; enables the bias and dataset sections."})


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


def _quality(page: Page, args: ReportArguments, inputs: dict, figures: Path) -> None:
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
    page.section("quality", inputs | {"quality_file": found}, figures)


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


def _bias(page: Page, args: ReportArguments, inputs: dict, figures: Path) -> None:
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
    page.section("bias", inputs | {"bias_groups": tables["groups"]}, figures)


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
        page.raw(contrast_html(method, runs, experiment_dir / "report" / "figures"))


def _behaviour(page: Page, args: ReportArguments, inputs: dict, figures: Path) -> None:
    """Reward accuracy beside what the models generate; shown only when judged generations exist."""
    results = inputs["results"]
    metrics = behaviour.behavioural_metrics(results)
    if not metrics:
        return
    page.heading(f"Behaviour vs reward accuracy ({args.metric}; intervals resample people)")
    page.table(behaviour.correlation_table(results, args.metric, args.n_boot, args.seed))
    for metric in metrics:
        page.section("behaviour", inputs | {"behaviour": metric}, figures, f"_{metric}")


def build_report(args: ReportArguments) -> Path:
    """Every section in order; returns the path of index.html."""
    experiment_dir = Path(args.experiment_dir)
    figures = experiment_dir / "report" / "figures"
    page = Page(f"FamousPersona report: {experiment_dir.name}", experiment_dir / "report" / "index.html")
    _step(1, "results.csv and the main table")
    results, table = _results(experiment_dir, args.metric)
    page.heading(f"Main table ({args.metric}: mean over person-folds [95% interval resampling people]; ties wrong)")
    page.table(formatted(table))
    page.heading("Paired contrasts on the same people (Total accuracy difference; Holm-adjusted p)")
    page.table(paired_comparisons(results, args.metric), "persona prefixes vs no_prefix and xyw (paired.csv)")
    inputs = {"results": results, "metric": args.metric, "experiment_dir": experiment_dir}
    _step(2, "accuracy figures")
    page.section("accuracy", inputs, figures)
    _behaviour(page, args, inputs, figures)
    _step(3, "persona quality and training curves")
    _quality(page, args, inputs, figures)
    page.section("training", inputs, figures)
    _step(4, "bias statistics")
    _bias(page, args, inputs, figures)
    _step(5, "dataset statistics")
    _dataset(page, args)
    _step(6, "attribution summaries")
    _attribution(page, experiment_dir)
    _step(7, "writing index.html")
    return page.write()


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("report", [ReportArguments], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (config,) = parse_config(parser or make_parser(), args)
    print(f"wrote {build_report(config)}")


if __name__ == "__main__":
    main()
