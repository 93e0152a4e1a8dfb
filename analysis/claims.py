"""The paper's three claims as effects with intervals in the synthetic world (docs/design.md §12): unseen accuracy
against measured persona quality (slope), faithfulness gaps per quality level, and the minority - majority gap of a
planted-bias world with and without an accurate persona. Intervals resample people; each verdict is read from them.

Usage: `python -m analysis.claims --quality_dir dump/claims/quality --quality_data data/synthetic_demo
--planted_dir dump/claims/planted --planted_data data/synthetic_planted`, after experiments/claims.sh trained and
scored the runs. Writes <out>/claims.html with figures and claims.json beside it (default dump/claims/report).
"""

from __future__ import annotations

import html
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from trl import TrlParser  # noqa: E402

from analysis.aggregate import person_totals, read_results  # noqa: E402
from analysis.bias import attributes, group_tests, improvements  # noqa: E402
from analysis.persona_quality import attribute_scores  # noqa: E402
from famous_persona.config import Subparsers, parse_config, stage_parser  # noqa: E402
from famous_persona.errors import DataError, exit_on_data_error  # noqa: E402
from famous_persona.io import DatasetDir, atomic_write_bytes, save_figure  # noqa: E402
from famous_persona.methods import parse_method  # noqa: E402

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


def _interval(draws: np.ndarray) -> tuple[float, float]:
    low, high = np.nanpercentile(draws, [2.5, 97.5])
    return float(low), float(high)


def _effect(value: float, draws: np.ndarray) -> dict[str, float]:
    low, high = _interval(draws)
    return {"effect": float(value), "ci_low": low, "ci_high": high}


def _verdict(effect: dict[str, float], held: str, reversed_: str, unclear: str) -> str:
    if effect["ci_low"] > 0:
        return held
    if effect["ci_high"] < 0:
        return reversed_
    return unclear


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


def _resample_counts(people: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of `people` is drawn in each of `n_boot` resamples with replacement."""
    draws = rng.integers(0, people, size=(n_boot, people))
    return np.stack([np.bincount(row, minlength=people) for row in draws])


def generalization(frame: pd.DataFrame, recall: pd.DataFrame, n_boot: int, rng: np.random.Generator) -> dict:
    """OLS slope of unseen accuracy (own prefix) on measured recall over (person, level) points; people resampled."""
    own = frame[(frame["train_method"] == frame["test_method"]) & ~frame["seen"].astype(bool)]
    points = own.merge(recall, on=["train_method", "name"])
    if points.empty:
        raise DataError("claims: no unseen accuracy of a quality level to relate to persona quality")
    person, people = pd.factorize(points["name"])
    x, y = points["recall"].to_numpy(float), points["Total"].to_numpy(float)
    draws = _slopes(x, y, person, _resample_counts(len(people), n_boot, rng))
    levels = points.groupby("train_method").agg(recall=("recall", "mean"), accuracy=("Total", "mean")).reset_index()
    refs = {
        m: float(own[own["train_method"] == m]["Total"].mean()) for m in REFERENCES if m in set(own["train_method"])
    }
    effect = _effect(float(_slopes(x, y, person, np.ones((1, len(people))))[0]), draws)
    sentence = _verdict(
        effect,
        "Held: unseen accuracy rises with measured persona quality (the slope's interval is above 0).",
        "Reversed: unseen accuracy falls as persona quality rises (the slope's interval is below 0).",
        "Not shown: the slope's interval includes 0, so this world does not show a dose-response.",
    )
    return {"effect": effect, "levels": levels.to_dict("records"), "references": refs, "sentence": sentence}


def _paired_gap(frame: pd.DataFrame, method: str, other: str, seen: bool, n_boot: int, rng) -> dict | None:
    part = frame[(frame["train_method"] == method) & (frame["seen"].astype(bool) == seen)]
    wide = part.pivot_table(index="name", columns="test_method", values="Total")
    if method not in wide or other not in wide:
        return None
    gaps = (wide[method] - wide[other]).dropna().to_numpy()
    if len(gaps) == 0:
        return None
    draws = rng.choice(gaps, size=(n_boot, len(gaps))).mean(axis=1)
    return {**_effect(gaps.mean(), draws), "people": len(gaps)}


def faithfulness(frame: pd.DataFrame, methods: list[str], n_boot: int, rng: np.random.Generator) -> dict:
    """Own − another person's prefix and own − none, per quality level, seen and unseen, paired over people."""
    rows = []
    for method in methods:
        for seen in (True, False):
            for label, other in (("own - another's", f"shuffle_{method}"), ("own - none", "no_prefix")):
                gap = _paired_gap(frame, method, other, seen, n_boot, rng)
                if gap is not None:
                    rows.append({"train_method": method, "seen": seen, "gap": label, **gap})
    table = pd.DataFrame(rows)
    if table.empty:
        raise DataError("claims: no model was scored with its own and another person's prefix")
    shuffle = table[(table["gap"] == "own - another's") & ~table["seen"]]
    held = int((shuffle["ci_low"] > 0).sum())
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
    samples = [rng.choice(s, size=(args.n_boot, len(s))) for s in strata]
    methods = [m for m in wide.columns if m not in ("name", GROUP)]
    measured = {m: _group_gaps(wide[m].to_numpy(float), strata, samples) for m in methods}
    gaps = {m: _effect(value, draws) for m, (value, draws) in measured.items()}
    closing = {
        m: _effect(measured[persona][0] - value, measured[persona][1] - draws)
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
        sentence = _verdict(
            plain,
            f"Held: {persona} serves the minority better relative to the majority than no_prefix does (the change in "
            "the minority - majority gap has an interval above 0).",
            f"Reversed: {persona} serves the minority worse relative to the majority than no_prefix does (the change "
            "in the minority - majority gap has an interval below 0).",
            f"Not shown: the change in the gap from no_prefix to {persona} has an interval that includes 0.",
        )
    return {"gaps": gaps, "closing": closing, "tests": tests.to_dict("records"), "sentence": sentence}


def _fmt(effect: dict) -> str:
    return f"{effect['effect']:+.3f} [{effect['ci_low']:+.3f}, {effect['ci_high']:+.3f}]"


def plot_generalization(claim: dict, path: Path) -> None:
    levels = pd.DataFrame(claim["levels"])
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.scatter(levels["recall"], levels["accuracy"], color="C0")
    for row in levels.itertuples():
        ax.annotate(row.train_method.removeprefix("persona_"), (row.recall, row.accuracy), fontsize=8)
    for i, (name, value) in enumerate(claim["references"].items()):
        ax.axhline(value, color=f"C{i + 1}", linestyle="--", label=name)
    ax.set(xlabel="measured attribute recall", ylabel="unseen accuracy (own prefix)", title="Generalization")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def plot_bars(labels: list[str], effects: list[dict], title: str, path: Path) -> None:
    values = np.array([e["effect"] for e in effects])
    errors = np.array(
        [
            [v - e["ci_low"] for v, e in zip(values, effects, strict=True)],
            [e["ci_high"] - v for v, e in zip(values, effects, strict=True)],
        ]
    )
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(labels) + 1.5))
    ax.barh(range(len(labels)), values, xerr=errors, color="C0", alpha=0.8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set(title=title, xlabel="accuracy difference, 95% interval over people")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def _section(title: str, figure: str, lines: list[str], sentence: str) -> str:
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f"<h2>{html.escape(title)}</h2><img src='{figure}'><ul>{items}</ul><p><b>{html.escape(sentence)}</b></p>"


def report(claims: dict, out: Path) -> Path:
    """claims.html with one section per claim and its figure beside it."""
    out.mkdir(parents=True, exist_ok=True)
    gen, faith, planted = claims["generalization"], claims["faithfulness"], claims["bias"]
    plot_generalization(gen, out / "generalization.png")
    table = faith["table"]
    labels = [f"{r['train_method']} {'seen' if r['seen'] else 'unseen'} {r['gap']}" for r in table]
    plot_bars(labels, table, "Faithfulness gaps", out / "faithfulness.png")
    bars = {f"gap {m}": e for m, e in planted["gaps"].items()} | {
        f"closed vs {m}": e for m, e in planted["closing"].items()
    }
    plot_bars(list(bars), list(bars.values()), "Planted bias: minority - majority", out / "bias.png")
    sections = [
        _section(
            "1. Generalization dose-response",
            "generalization.png",
            [
                f"slope of unseen accuracy on measured recall: {_fmt(gen['effect'])}",
                *(f"{m}: {v:.3f} (reference)" for m, v in gen["references"].items()),
            ],
            gen["sentence"],
        ),
        _section(
            "2. Faithfulness",
            "faithfulness.png",
            [f"{label}: {_fmt(e)} ({e['people']} people)" for label, e in zip(labels, table, strict=True)],
            faith["sentence"],
        ),
        _section(
            "3. Bias with planted structure",
            "bias.png",
            [
                *(f"{k}: {_fmt(e)}" for k, e in bars.items()),
                *(
                    f"analysis.bias on group, {t['train_method']} vs {t['baseline']}: Holm p = {t['p_anova_holm']:.3f}"
                    f"{' (significant)' if t['significant'] else ''}{' ' + t['untestable'] if t['untestable'] else ''}"
                    for t in planted["tests"]
                ),
            ],
            planted["sentence"],
        ),
    ]
    head = "<!doctype html><html><head><meta charset='utf-8'><title>Claims</title></head><body>"
    page = head + "<h1>The paper's three claims in the synthetic world</h1>" + "".join(sections) + "</body></html>"
    path = out / "claims.html"
    atomic_write_bytes(path, page.encode())
    return path


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
    for method, effect in planted["gaps"].items():
        print(f"bias gap (minority - majority) {method}: {_fmt(effect)}")
    for method, effect in planted["closing"].items():
        print(f"bias gap closed by {config.persona} vs {method}: {_fmt(effect)}")
    print(f"bias: {planted['sentence']}")
    print(f"wrote {Path(config.out) / 'claims.html'}")


if __name__ == "__main__":
    main()
