"""Shared fixtures: a small synthetic world with every demo prefix baked, and a tiny model built on its text."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import pytest  # noqa: E402

from famous_persona.io import DatasetDir  # noqa: E402
from famous_persona.models import TinyShape, build_tiny_model, dataset_texts  # noqa: E402
from sampling.bake import bake  # noqa: E402
from sampling.prefixes import write_prefixes  # noqa: E402
from sampling.synthetic import WorldConfig, make_world  # noqa: E402

METHODS = [
    "no_prefix", "tag", "name", "xyw_2s", "xywyl_2s", "persona_xy_4s", "persona_x_4s", "persona_gold",
    "shuffle_persona_gold", "xyw_2s_seed1",
]  # fmt: skip
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


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> DatasetDir:
    return build_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="session")
def tiny_model(world, tmp_path_factory):
    shape = TinyShape(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    return build_tiny_model(dataset_texts(world.root), tmp_path_factory.mktemp("tiny"), seed=0, shape=shape)
