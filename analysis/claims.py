"""The paper's three claims as effects with intervals in the synthetic world (docs/design.md §12): unseen accuracy
against measured persona quality (slope), faithfulness gaps per quality level, and the minority - majority gap of a
planted-bias world with and without an accurate persona. Intervals resample people; each verdict is read from them.

Usage: `python -m analysis.claims --quality_dir dump/claims/quality --quality_data data/synthetic_demo
--planted_dir dump/claims/planted --planted_data data/synthetic_planted`, after experiments/claims.sh trained and
scored the runs. Writes <out>/claims.html with figures and claims.json beside it (default dump/claims/report).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from trl import TrlParser

from analysis.aggregate import person_totals, read_results
from analysis.bias import attributes, group_tests, improvements
from analysis.figures.claims import gap_bars, planted_bars
from analysis.figures.registry import figures_in
from analysis.page import Page
from analysis.persona_quality import attribute_scores
from analysis.statistics import GAPS, effect, paired_difference, resample, resample_counts, role_prefix, sign, verdict
from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import DatasetDir, atomic_write_bytes
from famous_persona.methods import parse_method

REFERENCES = ("no_prefix", "xyw_2s")
GROUP = "group"


@dataclass
class ClaimsArguments:
    quality_dir: str = field(default="dump/claims/quality", metadata={"help": "Experiment of the quality levels."})
    quality_data: str = field(default="data/synthetic_demo", metadata={"help": "Dataset of the quality levels."})
    planted_dir: str = field(default="dump/claims/planted", metadata={"help": "Experiment of the planted world."})
    planted_data: str = field(default="data/synthetic_planted", metadata={"help": "The planted-bias dataset."})
    persona: str = field(default="persona_r100p100", metadata={"help": "The accurate persona of the bias claim."})
    out: str = field(default="dump/claims/report", metadata={"help": "Folder of claims.html and its figures."})
    metric: str = field(default="ref_free_avg", metadata={"help": "Accuracy metric."})
    n_boot: int = field(default=2000, metadata={"help": "Bootstrap resamples of people."})
    seed: int = field(default=0, metadata={"help": "Bootstrap seed."})


def totals(experiment_dir: str, metric: str) -> pd.DataFrame:
    """Total accuracy per (train method, test method, seen, person), averaged over folds."""
    frame = person_totals(read_results(experiment_dir), metric)
    frame = frame[frame["train_method"] != "none"]
    return frame.groupby(["train_method", "test_method", "seen", "name"], as_index=False)["Total"].mean()


def measured_recall(dataset: DatasetDir, methods: list[str]) -> pd.DataFrame:
    """Attribute recall (analysis.persona_quality) of each person's persona per method."""
    axes = {person.name: person.axes for person in dataset.personas()}
    rows = [
        {"train_method": m, "name": r.name, "recall": attribute_scores(r.text, axes[r.name])[1]}
        for m in methods
        for r in dataset.prefixes(m)
        if r.pair_id is None
    ]
    return pd.DataFrame(rows, columns=["train_method", "name", "recall"])


def quality_methods(frame: pd.DataFrame) -> list[str]:
    """The trained persona methods of set quality (every persona method but the references)."""
    trained = sorted(set(frame["train_method"]))
    return [m for m in trained if m not in REFERENCES and parse_method(m).persona and not parse_method(m).shuffle]


def _slopes(x: np.ndarray, y: np.ndarray, person: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """OLS slope of y on x over every point, each person's points weighted by its count in a row of `counts`; the
    sums per person make a bootstrap of thousands of resamples one matrix product. NaN where x does not vary."""
    sums = np.stack([np.bincount(person, w) for w in (np.ones_like(x), x, y, x * x, x * y)], axis=1)
    n, sx, sy, sxx, sxy = (counts @ sums).T
    spread = n * sxx - sx * sx
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(spread > 1e-12 * np.maximum(n * sxx, 1), (n * sxy - sx * sy) / spread, np.nan)


def generalization(frame: pd.DataFrame, recall: pd.DataFrame, n_boot: int, rng: np.random.Generator) -> dict:
    """OLS slope of unseen accuracy (own prefix) on measured recall over (person, level) points; people resampled."""
    own = frame[(frame["train_method"] == frame["test_method"]) & ~frame["seen"].astype(bool)]
    points = own.merge(recall, on=["train_method", "name"])
    if points.empty:
        raise DataError("claims: no unseen accuracy of a quality level to relate to persona quality")
    person, people = pd.factorize(points["name"])
    x, y = points["recall"].to_numpy(float), points["Total"].to_numpy(float)
    draws = _slopes(x, y, person, resample_counts(len(people), n_boot, rng))
    levels = points.groupby("train_method").agg(recall=("recall", "mean"), accuracy=("Total", "mean")).reset_index()
    refs = {
        m: float(own[own["train_method"] == m]["Total"].mean()) for m in REFERENCES if m in set(own["train_method"])
    }
    slope = effect(float(_slopes(x, y, person, np.ones((1, len(people))))[0]), draws)
    sentence = verdict(
        slope,
        "Held: unseen accuracy rises with measured persona quality (the slope's interval is above 0).",
        "Reversed: unseen accuracy falls as persona quality rises (the slope's interval is below 0).",
        "Not shown: the slope's interval includes 0, so this world does not show a dose-response.",
    )
    return {"effect": slope, "levels": levels.to_dict("records"), "references": refs, "sentence": sentence}


def _paired_gap(frame: pd.DataFrame, method: str, other: str, seen: bool, n_boot: int, rng) -> dict | None:
    """Own-prefix accuracy minus `other`'s for the seen or the unseen people, paired over people."""
    part = frame[(frame["train_method"] == method) & (frame["seen"].astype(bool) == seen)]
    return paired_difference(
        part.pivot_table(index="name", columns="test_method", values="Total"), method, other, n_boot, rng
    )


def faithfulness(frame: pd.DataFrame, methods: list[str], n_boot: int, rng: np.random.Generator) -> dict:
    """Own − another person's prefix and own − none, per quality level, seen and unseen, paired over people."""
    rows = []
    for method in methods:
        for seen in (True, False):
            for label, role in GAPS.items():
                gap = _paired_gap(frame, method, role_prefix(method, role), seen, n_boot, rng)
                if gap is not None:
                    rows.append({"train_method": method, "seen": seen, "gap": label, **gap})
    table = pd.DataFrame(rows)
    if table.empty:
        raise DataError("claims: no model was scored with its own and another person's prefix")
    shuffle = table[(table["gap"] == "own - another's") & ~table["seen"]]
    held = sum(sign(row) > 0 for row in shuffle.to_dict("records"))
    sentence = (
        f"{'Held' if held == len(shuffle) else 'Held in part' if held else 'Not shown'}: for unseen people the own "
        f"prefix beats another person's (interval above 0) at {held} of {len(shuffle)} quality levels."
    )
    return {"table": table.to_dict("records"), "sentence": sentence}


def _group_gaps(values: np.ndarray, strata: list[np.ndarray], samples: list[np.ndarray]) -> tuple[float, np.ndarray]:
    """Minority − majority mean of `values` (NaN = not scored), and the same over each row of the resampled indices."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        majority, minority = (np.nanmean(values[s]) for s in strata)
        drawn = [np.nanmean(values[sample], axis=1) for sample in samples]
    return float(minority - majority), drawn[1] - drawn[0]


def bias(frame: pd.DataFrame, dataset: DatasetDir, persona: str, args: ClaimsArguments, rng) -> dict:
    """Minority − majority unseen accuracy per model, and how much the accurate persona closes the gap of each
    persona-less model; people resampled within their group; plus analysis.bias's corrected test."""
    groups = {p.name: p.demographics.get(GROUP) for p in dataset.personas()}
    if not any(groups.values()):
        raise DataError(f"{dataset.root}: no '{GROUP}' demographic; make it with a bias_strength above 0")
    own = frame[(frame["train_method"] == frame["test_method"]) & ~frame["seen"].astype(bool)]
    own = own.assign(group=own["name"].map(groups))
    wide = own.pivot_table(index=["name", GROUP], columns="train_method", values="Total").reset_index()
    strata = [wide.index[wide[GROUP] == g].to_numpy() for g in ("majority", "minority")]
    if any(len(s) == 0 for s in strata):
        raise DataError("claims: the unseen people of the planted world hold only one group")
    samples = [s[resample(len(s), args.n_boot, rng)] for s in strata]
    methods = [m for m in wide.columns if m not in ("name", GROUP)]
    measured = {m: _group_gaps(wide[m].to_numpy(float), strata, samples) for m in methods}
    gaps = {m: effect(value, draws) for m, (value, draws) in measured.items()}
    closing = {
        m: effect(measured[persona][0] - value, measured[persona][1] - draws)
        for m, (value, draws) in measured.items()
        if m != persona and persona in measured
    }
    gains = improvements(read_results(args.planted_dir), args.metric)
    tests = group_tests(gains, attributes(dataset.personas()))
    tests = tests[tests["attribute"] == GROUP][
        ["train_method", "baseline", "people", "p_anova", "p_anova_holm", "significant", "untestable"]
    ]
    plain = closing.get("no_prefix")
    sentence = "Not testable: no no_prefix model to compare the persona with."
    if plain is not None:
        sentence = verdict(
            plain,
            f"Held: {persona} serves the minority better relative to the majority than no_prefix does (the change in "
            "the minority - majority gap has an interval above 0).",
            f"Reversed: {persona} serves the minority worse relative to the majority than no_prefix does (the change "
            "in the minority - majority gap has an interval below 0).",
            f"Not shown: the change in the gap from no_prefix to {persona} has an interval that includes 0.",
        )
    return {"gaps": gaps, "closing": closing, "tests": tests.to_dict("records"), "sentence": sentence}


def _fmt(estimate: dict) -> str:
    return f"{estimate['effect']:+.3f} [{estimate['ci_low']:+.3f}, {estimate['ci_high']:+.3f}]"


def _summaries(claims: dict) -> dict[str, tuple[list[str], str]]:
    """The numbers and the verdict printed under each claim's figure, by the figure's name."""
    gen, faith, planted = claims["generalization"], claims["faithfulness"], claims["bias"]
    tests = [
        f"analysis.bias on group, {t['train_method']} vs {t['baseline']}: Holm p = {t['p_anova_holm']:.3f}"
        f"{' (significant)' if t['significant'] else ''}{' ' + t['untestable'] if t['untestable'] else ''}"
        for t in planted["tests"]
    ]
    return {
        "generalization": (
            [
                f"slope of unseen accuracy on measured recall: {_fmt(gen['effect'])}",
                *(f"{m}: {v:.3f} (reference)" for m, v in gen["references"].items()),
            ],
            gen["sentence"],
        ),
        "faithfulness": (
            [f"{label}: {_fmt(e)} ({e['people']} people)" for label, e in gap_bars(faith).items()],
            faith["sentence"],
        ),
        "bias": ([*(f"{k}: {_fmt(e)}" for k, e in planted_bars(planted).items()), *tests], planted["sentence"]),
    }


def report(claims: dict, out: Path) -> Path:
    """claims.html: each registered claims figure (analysis.figures.claims) under its heading, then the claim's
    numbers and verdict; the figures lie beside the page."""
    page = Page("The paper's three claims in the synthetic world", out / "claims.html")
    summaries = _summaries(claims)
    for entry in figures_in("claims"):
        page.draw(entry, {"claims": claims}, out)
        if entry.name in summaries:
            lines, sentence = summaries[entry.name]
            page.items(lines)
            page.text(sentence, "verdict")
    return page.write()


def run_claims(args: ClaimsArguments) -> dict:
    rng = np.random.default_rng(args.seed)
    quality = totals(args.quality_dir, args.metric)
    methods = quality_methods(quality)
    recall = measured_recall(DatasetDir(args.quality_data), methods)
    claims = {
        "generalization": generalization(quality, recall, args.n_boot, rng),
        "faithfulness": faithfulness(quality, methods, args.n_boot, rng),
        "bias": bias(totals(args.planted_dir, args.metric), DatasetDir(args.planted_data), args.persona, args, rng),
    }
    out = Path(args.out)
    report(claims, out)
    atomic_write_bytes(out / "claims.json", (json.dumps(claims, indent=2, default=float) + "\n").encode())
    return claims


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("claims", [ClaimsArguments], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (config,) = parse_config(parser or make_parser(), args)
    claims = run_claims(config)
    gen, planted = claims["generalization"], claims["bias"]
    print(f"generalization: slope {_fmt(gen['effect'])}. {gen['sentence']}")
    for row in claims["faithfulness"]["table"]:
        print(f"faithfulness {row['train_method']} {'seen' if row['seen'] else 'unseen'} {row['gap']}: {_fmt(row)}")
    print(f"faithfulness: {claims['faithfulness']['sentence']}")
    for method, gap in planted["gaps"].items():
        print(f"bias gap (minority - majority) {method}: {_fmt(gap)}")
    for method, change in planted["closing"].items():
        print(f"bias gap closed by {config.persona} vs {method}: {_fmt(change)}")
    print(f"bias: {planted['sentence']}")
    print(f"wrote {Path(config.out) / 'claims.html'}")


if __name__ == "__main__":
    main()
