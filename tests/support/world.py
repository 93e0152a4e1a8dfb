"""The small synthetic world the tests share: every demo prefix baked, and the CPU trainer settings."""

from __future__ import annotations

from famous_persona.io import DatasetDir
from sampling.prefixes.bake import bake
from sampling.prefixes.build import write_prefixes
from sampling.world.synthetic import WorldConfig, make_world

METHODS = [
    "no_prefix",
    "tag",
    "name",
    "xyw_2s",
    "xywyl_2s",
    "persona_xy_4s",
    "persona_x_4s",
    "persona_gold",
    "shuffle_persona_gold",
    "xyw_2s_seed1",
]
CPU_TRAINING = dict(use_cpu=True, bf16=False, report_to="none", disable_tqdm=True)
"""Trainer settings every CPU test run needs (TRL's defaults assume a GPU)."""
SMALL_WORLD = dict(
    people=10, axes=3, folds=5, personal_per_person=4, divergent_per_person=8, divergent_per_axis=8, seed=3
)


def build_world(root, **overrides) -> DatasetDir:
    dataset = make_world(WorldConfig(out=str(root), **{**SMALL_WORLD, **overrides}))
    write_prefixes(dataset, METHODS)
    bake(dataset, METHODS)
    return dataset
