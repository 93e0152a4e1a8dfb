"""The figures of the claims page (analysis.claims): persona quality against unseen accuracy, the faithfulness gaps,
and the planted minority - majority gaps, each effect with its 95% interval over people."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.figures.registry import figure  # noqa: E402
from analysis.figures.style import save_figure  # noqa: E402


def gap_bars(faithfulness: dict) -> dict[str, dict]:
    """Each faithfulness gap by its label: level, seen or unseen people, and which gap."""
    return {f"{r['train_method']} {'seen' if r['seen'] else 'unseen'} {r['gap']}": r for r in faithfulness["table"]}


def planted_bars(planted: dict) -> dict[str, dict]:
    """Each model's minority - majority gap, then how much the accurate persona changes each of them."""
    gaps = {f"gap {m}": e for m, e in planted["gaps"].items()}
    return gaps | {f"closed vs {m}": e for m, e in planted["closing"].items()}


def _bars(effects: dict[str, dict], title: str, path: Path) -> None:
    """Horizontal bars of effects with their intervals, a line at 0."""
    values = np.array([e["effect"] for e in effects.values()])
    lows = np.array([e["ci_low"] for e in effects.values()])
    highs = np.array([e["ci_high"] for e in effects.values()])
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(effects) + 1.5))
    ax.barh(range(len(effects)), values, xerr=np.vstack([values - lows, highs - values]), color="C0", alpha=0.8)
    ax.set_yticks(range(len(effects)), list(effects), fontsize=8)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set(title=title, xlabel="accuracy difference, 95% interval over people")
    fig.tight_layout()
    save_figure(fig, path)


@figure("generalization", "1. Generalization dose-response", "claims", ("claims",))
def generalization(claims: dict, path: Path) -> None:
    """Unseen accuracy of each quality level against its measured recall, the references as lines."""
    claim = claims["generalization"]
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
    save_figure(fig, path)


@figure("faithfulness", "2. Faithfulness", "claims", ("claims",))
def faithfulness(claims: dict, path: Path) -> None:
    _bars(gap_bars(claims["faithfulness"]), "Faithfulness gaps", path)


@figure("bias", "3. Bias with planted structure", "claims", ("claims",))
def planted_bias(claims: dict, path: Path) -> None:
    _bars(planted_bars(claims["bias"]), "Planted bias: minority - majority", path)
