"""What every figure shares: the colour of a prefix kind from the family registry, legends, the one way a figure is
saved, and the people-resampled interval of a bar or a band."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from analysis.statistics import LATENT_METHODS, person_bootstrap  # noqa: E402
from famous_persona.errors import DataError  # noqa: E402
from famous_persona.families import FAMILIES  # noqa: E402
from famous_persona.io import save_figure as write_figure  # noqa: E402
from famous_persona.methods import is_training_only, parse_method  # noqa: E402

KINDS = [*dict.fromkeys(f.kind for f in FAMILIES.values()), "latent", "mixed", "control", "other"]
"""The family registry's kinds in registration order, then latent users (VPL), training sets and shuffles."""
PALETTE = ["#555555", "#2ca02c", "#1f77b4", "#d62728", "#e377c2", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"]
KIND_LABELS = {"none": "none", "latent": "latent user (VPL)", "mixed": "training set", "control": "shuffled (control)"}
TESTED_ON = " → "
"""Joins a training set and the part it was tested on in figure labels."""
N_BOOT = 1000
"""Resamples of people behind a figure's bars and bands (the tables use their own, larger count)."""


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


def label_colour(label: str) -> str:
    """Colour of a figure label: a method, or a training set with the part it was tested on."""
    return kind_colour(kind(label.split(TESTED_ON)[0]))


def kind_handles(kinds: set[str]) -> list[Patch]:
    """Legend patches for the kinds present, in registry order."""
    return [Patch(color=kind_colour(k), label=KIND_LABELS.get(k, k)) for k in KINDS if k in kinds]


def ordered(methods: Iterable[str]) -> list[str]:
    """Methods grouped by kind in registry order, then by name."""
    return sorted(set(methods), key=lambda m: (KINDS.index(kind(m)), m))


def distinct_colours(keys: Iterable) -> dict:
    """One colour per key, in sorted order, from a qualitative map large enough for them."""
    keys = sorted(set(keys))
    colours = plt.get_cmap("tab10" if len(keys) <= 10 else "tab20").colors
    return {key: to_hex(colours[i % len(colours)]) for i, key in enumerate(keys)}


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
    """Write the figure atomically, its folder made, and free it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_figure(fig, path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def seen_label(seen: bool) -> str:
    return "seen" if seen else "unseen"


def estimate(part: pd.DataFrame, column: str, rng: np.random.Generator) -> tuple[float, float, float]:
    """Mean of a column over person-folds with its people-resampled interval."""
    return person_bootstrap(part[column].to_numpy(float), part["name"].to_numpy(), N_BOOT, rng)
