"""Shared fixtures: a small synthetic world with every demo prefix baked, and a tiny model built on its text."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import pytest  # noqa: E402

from famous_persona.io import DatasetDir  # noqa: E402
from famous_persona.models import TinyShape, build_tiny_model, dataset_texts  # noqa: E402
from tests.support.world import build_world  # noqa: E402


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> DatasetDir:
    return build_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="session")
def tiny_model(world, tmp_path_factory):
    shape = TinyShape(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    return build_tiny_model(dataset_texts(world.root), tmp_path_factory.mktemp("tiny"), seed=0, shape=shape)


@pytest.fixture(scope="session")
def real_server():
    """`transformers serve` with SmolLM2 on 127.0.0.1 (tests/support/real_server.py), shared by the session. Skipped
    where the command, its serving extra or the model folder is missing; in CI (CI=true) that is a failure."""
    from tests.support import real_server as served

    reason = served.missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the real-server tests must run in CI: {reason}")
        pytest.skip(reason)
    with served.RealServer() as server:
        yield server
