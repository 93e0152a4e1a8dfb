"""Power and calibration of the bias analysis: how often `analysis.bias`'s group test finds a planted gap between a
minority and a majority group, and how often it finds anything when nothing is planted, over seeded simulations.

Each simulated person lives in the planted-bias world's generative model: a minority share of the people, and on
each axis a category that follows the person's group with probability `bias_strength` (majority: the axis's majority
category; minority: one of the others), else uniform. A no-prefix model has learnt the majority's prior: on a test
pair it picks the answer of the majority category when one side has it and guesses otherwise. A persona model picks
the person's own answer with probability `persona_accuracy` whatever their group. A person's improvement is the
persona model's accuracy minus the no-prefix model's on their test pairs (labels flipped at `label_noise`). The
improvements go through `analysis.bias.group_tests` with the group and `null_attributes` unrelated attributes, so the
multiple-testing correction is the command's own. Usage: `python -m analysis.bias_power --seeds 200`.
"""

from __future__ import annotations

import gc
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
from trl import TrlParser

from analysis.bias import RUN, group_tests
from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error


@dataclass
class PowerArguments:
    people: int = field(default=40, metadata={"help": "Unseen people per simulated experiment."})
    minority_share: float = field(default=0.25, metadata={"help": "Share of the people in the minority group."})
    bias_strength: float = field(default=0.5, metadata={"help": "Planted tie between group and category (power)."})
    axes: int = field(default=4, metadata={"help": "Axes per person."})
    categories: int = field(default=4, metadata={"help": "Categories per axis."})
    pairs_per_axis: int = field(default=4, metadata={"help": "Test pairs per person and axis."})
    persona_accuracy: float = field(default=0.85, metadata={"help": "Chance the persona model picks the own answer."})
    label_noise: float = field(default=0.05, metadata={"help": "Chance a pair's labels are swapped."})
    null_attributes: int = field(default=3, metadata={"help": "Attributes unrelated to the outcome, tested as well."})
    seeds: int = field(default=200, metadata={"help": "Simulated experiments per world (planted and null)."})
    correction: str = field(default="holm", metadata={"help": "holm | fdr_bh, as in analysis.bias."})
    alpha: float = field(default=0.05, metadata={"help": "Level of the corrected test."})
    seed: int = field(default=0, metadata={"help": "First seed; experiment i uses seed + i."})


def _check(args: PowerArguments) -> None:
    problems = []
    if args.people < 4 or args.seeds < 1 or args.axes < 1 or args.pairs_per_axis < 1:
        problems.append("need people >= 4 and seeds, axes, pairs_per_axis >= 1")
    if args.categories < 3:
        problems.append("categories must be at least 3")
    if not 0 < args.minority_share < 1 or not 0 <= args.bias_strength <= 1:
        problems.append("minority_share must be in (0, 1) and bias_strength in [0, 1]")
    if not 0 <= args.persona_accuracy <= 1 or not 0 <= args.label_noise < 0.5:
        problems.append("persona_accuracy must be in [0, 1] and label_noise in [0, 0.5)")
    if problems:
        raise DataError("invalid power settings: " + "; ".join(problems))


def simulate(args: PowerArguments, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One experiment: per-person improvements in analysis.bias's layout and the long attribute table."""
    rng = np.random.default_rng(seed)
    minority = np.zeros(args.people, bool)
    minority[rng.choice(args.people, round(args.minority_share * args.people), replace=False)] = True
    shape = (args.people, args.axes)
    tied = rng.random(shape) < args.bias_strength
    uniform = rng.integers(0, args.categories, shape)
    other = rng.integers(1, args.categories, shape)
    own = np.where(tied, np.where(minority[:, None], other, 0), uniform)
    pairs = (*shape, args.pairs_per_axis)
    rival = (own[..., None] + rng.integers(1, args.categories, pairs)) % args.categories
    majority_side = np.where(own[..., None] == 0, 1.0, np.where(rival == 0, 0.0, 0.5))
    plain_right = rng.random(pairs) < majority_side
    persona_right = rng.random(pairs) < args.persona_accuracy
    flipped = rng.random(pairs) < args.label_noise
    improvement = (persona_right ^ flipped).mean(axis=(1, 2)) - (plain_right ^ flipped).mean(axis=(1, 2))
    names = [f"person_{i:03d}" for i in range(args.people)]
    gains = pd.DataFrame(
        {
            "model": "simulated",
            "trainer": "dpo",
            "fold_scheme": "fold",
            "train_method": "persona",
            "baseline": "no_prefix",
            "fold": 0,
            "name": names,
            "improvement": improvement,
        }
    )
    traits = [pd.DataFrame({"name": names, "attribute": "group", "group": np.where(minority, "minority", "majority")})]
    for k in range(args.null_attributes):
        traits.append(pd.DataFrame({"name": names, "attribute": f"null_{k}", "group": rng.integers(0, 3, args.people)}))
    return gains[[*RUN, "fold", "name", "improvement"]], pd.concat(traits).astype({"group": str})


def rejections(args: PowerArguments) -> pd.DataFrame:
    """Per seed: whether the corrected test flagged the group, and how many unrelated attributes it flagged."""
    rows = []
    gc.freeze()  # statsmodels' Holm runs gc.collect() on every call; a frozen heap makes that cheap
    try:
        for seed in range(args.seed, args.seed + args.seeds):
            tests = group_tests(*simulate(args, seed), args.correction, args.alpha)
            flagged = tests.set_index("attribute")["significant"]
            rows.append({"seed": seed, "group": bool(flagged["group"]), "null": int(flagged.drop("group").sum())})
    finally:
        gc.unfreeze()
    return pd.DataFrame(rows)


def power_and_calibration(args: PowerArguments) -> dict[str, float]:
    """Power at the planted strength; family-wise and per-test false-positive rates in the null world (strength 0)."""
    _check(args)
    planted = rejections(args)
    null = rejections(replace(args, bias_strength=0.0))
    tests_per_seed = args.null_attributes + 1
    return {
        "power": float(planted["group"].mean()),
        "false_positive_familywise": float(((null["null"] > 0) | null["group"]).mean()),
        "false_positive_per_test": float((null["null"].sum() + null["group"].sum()) / (args.seeds * tests_per_seed)),
        "null_attributes_flagged_in_planted": float((planted["null"] > 0).mean()),
    }


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("bias-power", [PowerArguments], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (config,) = parse_config(parser or make_parser(), args)
    measured = power_and_calibration(config)
    print("settings: " + ", ".join(f"{key}={value}" for key, value in asdict(config).items()))
    for key, value in measured.items():
        print(f"{key}: {value:.3f}")


if __name__ == "__main__":
    main()
