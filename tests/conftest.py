"""Shared fixtures: a small synthetic world with every demo prefix baked, a tiny model built on its text, the training
chain trained on it once, and SmolLM2 converted and loaded once; the test order and the SmolLM2 conversion under
xdist."""

from __future__ import annotations

import contextlib
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# One torch thread per process, set before torch is imported (subprocesses inherit it). On two shared cores the
# OpenMP threads spin against each other and against the second xdist worker: measured, the training tests took 4x
# the CPU time with torch's default of one thread per core.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

import pytest  # noqa: E402

if TYPE_CHECKING:
    from famous_persona.io import DatasetDir
    from tests.support.chain import Chain

# The project's modules (torch among them) are imported inside the fixtures: under xdist the controlling process
# loads this file too, before it starts the workers, and never needs them.

SMOLLM2 = Path(__file__).resolve().parents[1] / "models" / "smollm2-135m-instruct"
SERVED = ("tests/test_gpu_rehearsal.py", "tests/test_real_server.py")
"""The modules that read the real server (`real_server`), relative to the repository root."""


def module_of(item: pytest.Item) -> str:
    """The test's module as xdist names a work unit of `--dist loadfile`: its path from the repository root."""
    return item.nodeid.split("::", 1)[0]


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> DatasetDir:
    from tests.support.world import build_world

    return build_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="session")
def tiny_model(world, tmp_path_factory):
    from famous_persona.models import TinyShape, build_tiny_model, dataset_texts

    shape = TinyShape(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    return build_tiny_model(dataset_texts(world.root), tmp_path_factory.mktemp("tiny"), seed=0, shape=shape)


@pytest.fixture(scope="session")
def chain(world, tiny_model, tmp_path_factory) -> Chain:
    """SFT, DPO (full and LoRA) and their scores, trained once for every test that reads a finished run."""
    from tests.support.chain import train_chain

    return train_chain(world, tiny_model, tmp_path_factory.mktemp("chain") / "exp")


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """The converted SmolLM2-135M-Instruct (`famous-persona fetch-model smollm2`), made where missing."""
    from famous_persona.model_assets import fetch

    return fetch("smollm2", SMOLLM2)


@pytest.fixture(scope="session")
def smollm2_model(smollm2):
    """SmolLM2 loaded once per session, in eval mode; tests read it and never train it."""
    from famous_persona.models import load_model

    return load_model(smollm2).eval()


@pytest.fixture(scope="session")
def real_server(request: pytest.FixtureRequest):
    """`transformers serve` with SmolLM2 on 127.0.0.1 (tests/support/real_server.py), shared by the session. Skipped
    where the command, its serving extra or the model folder is missing; in CI (CI=true) that is a failure. A module
    reading it must be in SERVED, or under xdist it would start a second server on the other worker."""
    from tests.support import real_server as served

    reading = {module_of(item) for item in request.session.items if "real_server" in item.fixturenames}
    unlisted = sorted(reading - set(SERVED))
    if unlisted:
        pytest.fail(f"tests/conftest.py: add {', '.join(unlisted)} to SERVED (it reads real_server)")
    reason = served.missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the real-server tests must run in CI: {reason}")
        pytest.skip(reason)
    with served.RealServer() as server:
        yield server


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under xdist, convert SmolLM2 before the workers start, so that no two of them convert it into one folder at
    once; where it cannot be made, the tests that need it say so themselves."""
    if os.environ.get("PYTEST_XDIST_WORKER") or session.config.getoption("dist", "no") == "no":
        return
    from famous_persona.errors import DataError
    from famous_persona.model_assets import fetch

    with contextlib.suppress(DataError):
        fetch("smollm2", SMOLLM2)


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`--dist loadfile`, but the modules of SERVED are one unit: they run on one worker, which starts the real server
    once for both (about 30 s of a core) rather than once each."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class ServedTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = super()._split_scope(nodeid)
            return "the real server" if module in SERVED else module

    return ServedTogether(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """On an xdist worker (`--dist loadfile`: a module runs on one worker, so its fixtures are built once), hand out
    the longest modules first, so the two workers finish together rather than one waiting on a long run picked up
    last: those with tests of the real server (the longest, measured), then the other modules with slow or SmolLM2
    tests."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    served = {item.path for item in items if module_of(item) in SERVED}
    slow = {item.path for item in items if item.get_closest_marker("slow") or item.get_closest_marker("smollm2")}
    items.sort(key=lambda item: (item.path not in served, item.path not in slow))
