"""The paper's figures as PNG files, drawn from results.csv and the bias tables (docs/design.md §12).

Each figure function returns the caption the report prints under it. A figure whose inputs are missing raises `Skip`
with the reason, which the report prints in place of the figure. Intervals resample people, as in the main table.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import ScalarFormatter  # noqa: E402
from scipy import stats  # noqa: E402

from analysis.aggregate import person_bootstrap, person_totals  # noqa: E402
from famous_persona.errors import DataError  # noqa: E402
from famous_persona.families import FAMILIES, family  # noqa: E402
from famous_persona.io import save_figure as write_figure  # noqa: E402
from famous_persona.methods import is_training_only, parse_method, split_training_set  # noqa: E402

LATENT_METHODS = ("vpl",)
"""Train methods whose model sees a learnt user vector rather than a prefix: drawn beside the prefixes."""
KINDS = [*dict.fromkeys(f.kind for f in FAMILIES.values()), "latent", "mixed", "control", "other"]
"""The family registry's kinds in registration order, then latent users (VPL), training sets and shuffles."""
PALETTE = ["#555555", "#2ca02c", "#1f77b4", "#d62728", "#e377c2", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"]
KIND_LABELS = {"none": "none", "latent": "latent user (VPL)", "mixed": "training set", "control": "shuffled (control)"}
QUESTION_TYPES = ("Personal", "Divergent")
FINE_TUNED, PROMPT_ONLY = "fine-tuned", "prompt-only"
N_BOOT = 1000
TESTED_ON = " → "
"""Joins a training set and the part it was tested on in figure labels."""
NO_OWN = (
    "no run was tested with its own prefix and there are no prompt-only rows (run experiments/cv.sh or "
    "experiments/prompt_baseline.sh)"
)


class Skip(Exception):
    """A figure that cannot be drawn from these results; the message says why."""


def kind(method: str) -> str:
    """The kind of a train or test method, from the family registry: latent for VPL, mixed for a training set of
    several parts or the persona task, other for a name outside the grammar."""
    if method in LATENT_METHODS:
        return "latent"
    if is_training_only(method):
        return "mixed"
    try:
        return parse_method(method).kind
    except DataError:
        return "other"


def kind_colour(name: str) -> str:
    return PALETTE[KINDS.index(name) % len(PALETTE)]


def method_colour(method: str) -> str:
    return kind_colour(kind(method))


def label_colour(label: str) -> str:
    """Colour of a figure label: a method, or a training set with the part it was tested on."""
    return method_colour(label.split(TESTED_ON)[0])


def kind_handles(kinds: set[str]) -> list[Patch]:
    """Legend patches for the kinds present, in registry order."""
    return [Patch(color=kind_colour(k), label=KIND_LABELS.get(k, k)) for k in KINDS if k in kinds]


def _ordered(methods) -> list[str]:
    return sorted(set(methods), key=lambda m: (KINDS.index(kind(m)), m))


def top_legend(fig: plt.Figure, handles: list, title: str) -> None:
    """Lay the panels out, then one legend above them all (savefig's tight box takes it in)."""
    fig.tight_layout()
    fig.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=min(len(handles), 6),
        fontsize=8,
        title=title,
        title_fontsize=8,
        frameon=False,
    )


def save_figure(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_figure(fig, path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def own_prefix(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Person-fold totals of every model tested the way it was trained, with `setting` and a `prefix` label: its own
    prefix, a latent-user model (VPL) on its scores, a training set on each of its parts, and prompt-only rows."""
    totals = person_totals(results, metric)
    rows = []
    for (train, test), part in totals.groupby(["train_method", "test_method"], sort=False):
        if train == "none":
            rows.append(part.assign(setting=PROMPT_ONLY, prefix=test))
        elif train == test or train in LATENT_METHODS:
            rows.append(part.assign(setting=FINE_TUNED, prefix=train))
        elif is_training_only(train) and test in split_training_set(train):
            rows.append(part.assign(setting=FINE_TUNED, prefix=f"{train}{TESTED_ON}{test}"))
    if not rows:
        return totals.iloc[:0].assign(setting=[], prefix=[])
    return pd.concat(rows, ignore_index=True)


def _estimate(part: pd.DataFrame, column: str, rng: np.random.Generator) -> tuple[float, float, float]:
    return person_bootstrap(part[column].to_numpy(float), part["name"].to_numpy(), N_BOOT, rng)


def panel_rows(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(model, setting) pairs present, fine-tuned before prompt-only."""
    pairs = frame[["model", "setting"]].drop_duplicates()
    return sorted(map(tuple, pairs.to_numpy()), key=lambda p: (p[0], p[1] != FINE_TUNED))


def _seen_label(seen: bool) -> str:
    return "seen" if seen else "unseen"


def accuracy_by_prefix(results: pd.DataFrame, path: Path, metric: str = "ref_free_avg") -> str:
    """Personal and divergent accuracy per prefix, one row of panels per (base model, fine-tuned | prompt-only);
    bar colour is the prefix kind, seen people solid and unseen hatched, 95% intervals resampling people."""
    own = own_prefix(results, metric)
    columns = [c for c in QUESTION_TYPES if c in own.columns]
    if own.empty or not columns:
        raise Skip(NO_OWN)
    rows = panel_rows(own)
    widest = max(own.groupby(["model", "setting"])["prefix"].nunique())
    fig, axes = plt.subplots(
        len(rows), len(columns), figsize=(min(5.4, 1.2 + 0.55 * widest) * len(columns), 3.6 * len(rows)), squeeze=False
    )
    rng = np.random.default_rng(0)
    for (model, setting), row_axes in zip(rows, axes, strict=True):
        part = own[(own["model"] == model) & (own["setting"] == setting)]
        order = _ordered(part["prefix"])
        for column, ax in zip(columns, row_axes, strict=True):
            _bars(ax, part, column, order, rng)
            ax.set_title(f"{model} · {setting} · {column}", fontsize=10)
            ax.set_ylabel(f"accuracy ({metric})" if column == columns[0] else "")
    handles = kind_handles({kind(m.split(TESTED_ON)[0]) for m in own["prefix"]})
    handles += [
        Patch(facecolor="#999999", label="seen people"),
        Patch(facecolor="white", edgecolor="#555555", hatch="///", label="unseen people"),
    ]
    top_legend(fig, handles, "colour: prefix kind; fill: seen or unseen people")
    save_figure(fig, path)
    return (
        "Bars: mean over person-folds; whiskers: 95% interval resampling people; dotted line: chance. Fine-tuned rows "
        "test each model with its own prefix (VPL with its latent user, a training set with each of its parts)."
    )


def _bars(ax: plt.Axes, part: pd.DataFrame, column: str, order: list[str], rng: np.random.Generator) -> None:
    """Seen and unseen bars of one question type per prefix."""
    present = [seen for seen in (True, False) if (part["seen"] == seen).any()]
    width = 0.8 / len(present)
    for i, seen in enumerate(present):
        offset = (i - (len(present) - 1) / 2) * width
        for x, prefix in enumerate(order):
            cell = part[(part["prefix"] == prefix) & (part["seen"] == seen)]
            if cell.empty or cell[column].isna().all():
                continue
            mean, low, high = _estimate(cell, column, rng)
            colour = label_colour(prefix)
            ax.bar(
                x + offset,
                mean,
                width,
                yerr=[[mean - low], [high - mean]],
                capsize=2,
                color=colour if seen else "white",
                edgecolor=colour,
                hatch=None if seen else "///",
                linewidth=1,
            )
    ax.set_xticks(range(len(order)), order, rotation=35, ha="right", fontsize=8)
    for label in ax.get_xticklabels():
        label.set_color(label_colour(label.get_text()))
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_ylim(0, 1)
    ax.set_xlim(-0.6, len(order) - 0.4)


def tuned_vs_prompt(results: pd.DataFrame, path: Path, metric: str = "ref_free_avg") -> dict[str, int | float]:
    """Scatter of unseen people's own-prefix fine-tuned accuracy against the prompt-only accuracy with that prefix."""
    totals = person_totals(results, metric)
    unseen = totals[~totals["seen"].astype(bool)]
    prompt = unseen[unseen["train_method"] == "none"].groupby(["model", "test_method", "name"])["Total"].mean()
    tuned = unseen[(unseen["train_method"] != "none") & (unseen["test_method"] == unseen["train_method"])]
    tuned = tuned.groupby(["model", "test_method", "name"])["Total"].mean()
    both = pd.concat({"prompt": prompt, "tuned": tuned}, axis=1, join="inner").reset_index()
    if len(both) < 3:
        raise Skip(
            "fewer than three unseen people have both a prompt-only and a fine-tuned accuracy for one prefix (run "
            "experiments/prompt_baseline.sh beside experiments/cv.sh)"
        )
    pearson = stats.pearsonr(both["prompt"], both["tuned"]) if both[["prompt", "tuned"]].std().min() > 0 else None
    fig, ax = plt.subplots(figsize=(5.5, 5))
    both["prefix"] = both["model"] + " · " + both["test_method"]
    sns.scatterplot(data=both, x="prompt", y="tuned", hue="prefix", ax=ax)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    r = float(pearson.statistic) if pearson else float("nan")
    ax.set(xlabel="prompt-only total accuracy", ylabel="fine-tuned total accuracy", title=f"unseen people, r = {r:.2f}")
    ax.legend(fontsize=7, title="model · prefix", title_fontsize=8)
    save_figure(fig, path)
    return {"points": len(both), "pearson_r": r, "pearson_p": float(pearson.pvalue) if pearson else float("nan")}


ROLES = ("own", "re-sampled", "another person's", "none")
"""Faithfulness columns: the test prefix relative to the one the model was trained on (experiments/faithfulness.sh)."""


def prefix_role(train: str, test: str) -> str | None:
    """Which faithfulness probe a test prefix is for a train prefix, or None when it is another prefix."""
    if train in LATENT_METHODS:
        return None
    if test == train:
        return "own"
    if test == "no_prefix":
        return "none"
    try:
        trained, tested = parse_method(train), parse_method(test)
    except DataError:
        return None
    if tested.shuffle and tested.base == train:
        return "another person's"
    same = dataclasses.replace(tested, name=trained.name, seed=trained.seed) == trained
    return "re-sampled" if same and not tested.shuffle and tested.seed != trained.seed else None


def faithfulness_grid(results: pd.DataFrame, metric: str = "ref_free_avg") -> pd.DataFrame:
    """Mean total accuracy per (model, train prefix, probe folds, seen) × role, from the probe's folds only: the
    folds in which that model was tested with a prefix other than its own. A cell without scores for every one of
    those folds is NaN."""
    totals = person_totals(results, metric)
    totals = totals[totals["train_method"] != "none"].copy()
    totals["role"] = [prefix_role(a, b) for a, b in zip(totals["train_method"], totals["test_method"], strict=True)]
    totals = totals.dropna(subset=["role"])
    rows = []
    for (model, train), part in totals.groupby(["model", "train_method"], sort=True):
        folds = sorted(part.loc[part["role"] != "own", "fold"].unique())
        if not folds:
            continue
        part = part[part["fold"].isin(folds)]
        for seen in (True, False):
            cells = part[part["seen"] == seen]
            row = {"model": model, "train_method": train, "folds": ", ".join(map(str, folds)), "seen": seen}
            for role in ROLES:
                cell = cells[cells["role"] == role]
                complete = set(cell["fold"]) == set(folds)
                row[role] = cell["Total"].mean() if complete else np.nan
            rows.append(row)
    return pd.DataFrame(rows, columns=["model", "train_method", "folds", "seen", *ROLES])


def faithfulness_heatmap(results: pd.DataFrame, path: Path, metric: str = "ref_free_avg") -> str:
    """Rows: train prefix (its folds named); columns: own, re-sampled, another person's, none; seen | unseen."""
    grid = faithfulness_grid(results, metric)
    if grid.empty:
        raise Skip(
            "no model was tested with a re-sampled, another person's or no prefix (run experiments/faithfulness.sh)"
        )
    several = grid["model"].nunique() > 1
    grid["row"] = [
        f"{m + ' · ' if several else ''}{t} (fold {f})" for m, t, f in grid[["model", "train_method", "folds"]].values
    ]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.55 * grid["row"].nunique() + 2.2), squeeze=False, sharey=True)
    for ax, seen in zip(axes[0], (True, False), strict=True):
        panel = grid[grid["seen"] == seen].set_index("row")[list(ROLES)]
        sns.heatmap(
            panel.astype(float),
            annot=True,
            fmt=".2f",
            vmin=0,
            vmax=1,
            cmap="viridis",
            cbar=not seen,
            linewidths=0.5,
            linecolor="white",
            ax=ax,
        )
        ax.set(title=f"{_seen_label(seen)} people", xlabel="test prefix", ylabel="train prefix" if seen else "")
        ax.set_xticks(np.arange(len(ROLES)) + 0.5, [role.replace(" ", "\n", 1) for role in ROLES], rotation=0)
    fig.tight_layout()
    save_figure(fig, path)
    return (
        "Mean total accuracy over person-folds. Each row uses only the folds in which its model was tested with a "
        "prefix other than its own (named in the row label); a blank cell has no scores for all of those folds and "
        "is never filled from other folds."
    )


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
        estimates = np.array([_estimate(part[part["shots"] == k], value, rng) for k in points])
        ax.plot(points, estimates[:, 0], style, marker="o", color=colours[series], label=f"{series}{label}")
        ax.fill_between(points, estimates[:, 1], estimates[:, 2], color=colours[series], alpha=0.12)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(frame["shots"].unique()))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.minorticks_off()


def distinct_colours(keys) -> dict:
    """One colour per key, in sorted order, from a qualitative map large enough for them."""
    keys = sorted(set(keys))
    colours = plt.get_cmap("tab10" if len(keys) <= 10 else "tab20").colors
    return {key: to_hex(colours[i % len(colours)]) for i, key in enumerate(keys)}


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


QUALITY_MEASURES = {
    "rouge_l": "ROUGE-L to gold",
    "embedding_cosine": "embedding cosine to gold",
    "attribute_precision": "attribute precision",
    "attribute_recall": "attribute recall",
}


def quality_by_shots(quality: pd.DataFrame, path: Path) -> str:
    """Each persona-quality measure (analysis.persona_quality rows) against the number of shots, one line per family."""
    frame = _with_series(quality, "method")
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
    return "Mean over people of each inferred persona against the gold one; band: 95% interval resampling people."


def per_person(results: pd.DataFrame, path: Path, metric: str = "ref_free_avg") -> str:
    """Box and strip plot of per-person total accuracy (folds averaged) per prefix: fine-tuned seen / unseen, and
    prompt-only."""
    own = own_prefix(results, metric)
    if own.empty:
        raise Skip(NO_OWN)
    people = own.groupby(["model", "setting", "seen", "prefix", "name"], as_index=False)["Total"].mean()
    panels = [
        (model, setting, seen)
        for (model, setting) in panel_rows(people)
        for seen in (True, False)
        if ((people["model"] == model) & (people["setting"] == setting) & (people["seen"] == seen)).any()
    ]
    columns = min(3, len(panels))
    rows = int(np.ceil(len(panels) / columns))
    widest = people.groupby(["model", "setting"])["prefix"].nunique().max()
    fig, axes = plt.subplots(rows, columns, figsize=(min(3.6, 1 + 0.4 * widest) * columns, 3.6 * rows), squeeze=False)
    for ax, (model, setting, seen) in zip(axes.flat, panels, strict=False):
        part = people[(people["model"] == model) & (people["setting"] == setting) & (people["seen"] == seen)]
        order = _ordered(part["prefix"])
        palette = {p: label_colour(p) for p in order}
        sns.boxplot(
            data=part,
            x="prefix",
            y="Total",
            order=order,
            hue="prefix",
            palette=palette,
            ax=ax,
            showfliers=False,
            boxprops={"alpha": 0.45},
            legend=False,
        )
        sns.stripplot(data=part, x="prefix", y="Total", order=order, color="#222222", size=3, jitter=0.2, ax=ax)
        ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.set(
            title=f"{model} · {setting} · {_seen_label(seen)}",
            xlabel="",
            ylabel="per-person total accuracy",
            ylim=(0, 1),
        )
        ax.tick_params(axis="x", rotation=35, labelsize=8)
        for label in ax.get_xticklabels():
            label.set_ha("right")
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_axis_off()
    top_legend(fig, kind_handles({kind(p.split(TESTED_ON)[0]) for p in people["prefix"]}), "prefix kind")
    save_figure(fig, path)
    return "One dot per person (their folds averaged); boxes: quartiles and median; dotted line: chance."


def bias_bars(groups: pd.DataFrame, path: Path) -> str:
    """Mean improvement per demographic group and prefix (person-clustered bootstrap 95% CIs), one panel per model
    and attribute, each with its legend; the legend names the baseline of each prefix and ticks the group sizes."""
    if groups.empty:
        raise Skip(
            "no improvement could be computed: no unseen people with a baseline (prompt-only scores from "
            "experiments/prompt_baseline.sh, or a no_prefix run of the same fold), or no demographics"
        )
    panels = sorted(map(tuple, groups[["model", "attribute"]].drop_duplicates().to_numpy()))
    columns = min(2, len(panels))
    rows = int(np.ceil(len(panels) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(5.6 * columns, 3.2 * rows), squeeze=False)
    prefixes = sorted(groups[["train_method", "baseline"]].drop_duplicates().itertuples(index=False, name=None))
    colours = distinct_colours(prefixes)
    several = groups["model"].nunique() > 1
    for ax, (model, attribute) in zip(axes.flat, panels, strict=False):
        part = groups[(groups["model"] == model) & (groups["attribute"] == attribute)]
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
