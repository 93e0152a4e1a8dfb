"""Persona inference by a model, end to end: the tiny local model through the transformers backend, and the scripted
OpenAI-compatible server with injected faults; provenance, leakage, seeds, caching and resumption, and the errors."""

from __future__ import annotations

import os
import shutil

import pytest
import yaml

from famous_persona.errors import DataError
from famous_persona.io import DatasetDir
from famous_persona.methods import parse_method
from sampling.prefixes.bake import bake
from sampling.prefixes.build import build_prefixes, overrides, write_prefixes
from sampling.prefixes.inference import PersonaInference, load_inference_model
from tests.support.generation import SECRET, files_containing
from tests.support.scripted_server import FaultPlan, ScriptedServer
from tests.support.world import build_world

TINY_METHODS = ["persona_xy_2s_tiny", "persona_x_2s_tiny", "persona_gold_tiny", "persona_xy_2s_tiny_bm25"]
API_METHODS = ["persona_xy_2s_api", "persona_x_4s_api", "persona_gold_api", "persona_xy_2s_api_emb"]


def _models_dir(root, **models: dict) -> str:
    root.mkdir(parents=True, exist_ok=True)
    for short, spec in models.items():
        (root / f"{short}.yaml").write_text(yaml.safe_dump(spec))
    return str(root)


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory, tiny_model):
    dataset = build_world(tmp_path_factory.mktemp("inferred"))
    spec = {"model": str(tiny_model), "backend": "transformers", "max_tokens": 12, "batch_size": 32}
    models = _models_dir(dataset.root / "inference", tiny=spec)
    write_prefixes(dataset, TINY_METHODS, models)
    bake(dataset, TINY_METHODS)
    return dataset, models


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    plans = []

    def start(plan: FaultPlan | None = None) -> ScriptedServer:
        plans.append(ScriptedServer(plan=plan, api_key=SECRET).start())
        return plans[-1]

    yield start
    for running in plans:
        running.shutdown()


def _api_spec(base_url: str) -> dict:
    return {"model": "scripted-persona", "base_url": base_url, "max_retries": 3, "timeout_s": 0.5, "concurrency": 8}


def _check_provenance(dataset, method: str, model: str) -> None:
    pairs = {pair.id: pair for pair in dataset.pairs()}
    parsed = parse_method(method)
    for prefix in dataset.prefixes(method):
        assert prefix.model == model and prefix.seed == parsed.seed and prefix.text.strip()
        shots = [pairs[i] for i in prefix.shots]
        assert all(p.split == "train" and p.name == prefix.name for p in shots)
        assert prefix.pair_id not in prefix.shots
        assert len(shots) == (0 if parsed.family == "persona_gold" else parsed.shots)


@pytest.mark.parametrize("method", TINY_METHODS)
def test_the_tiny_model_infers_every_family_with_provenance(tiny_world, tiny_model, method):
    dataset, _ = tiny_world
    _check_provenance(dataset, method, str(tiny_model))
    assert dataset.dpo(method, "train") and dataset.dpo(method, "test")


def test_local_inference_is_reproducible_without_the_cache_and_seeds_resample(tiny_world, tmp_path):
    dataset, models = tiny_world
    people, pairs = dataset.personas(), dataset.pairs()
    copy = shutil.copytree(dataset.root, tmp_path / "copy")
    shutil.rmtree(copy / "cache")
    write_prefixes(DatasetDir(copy), ["persona_xy_2s_tiny"], models)
    rebuilt = (copy / "prefixes" / "persona_xy_2s_tiny.jsonl").read_bytes()
    assert rebuilt == dataset.prefix_path("persona_xy_2s_tiny").read_bytes()
    inference = PersonaInference(models, copy / "cache" / "persona_inference.sqlite")
    first = {p.name: p for p in dataset.prefixes("persona_xy_2s_tiny") if p.pair_id is None}
    again = {p.name: p for p in build_prefixes("persona_xy_2s_tiny_seed1", people, pairs, inference) if not p.pair_id}
    assert any(first[n].shots != again[n].shots for n in first)
    assert sum(first[n].text != again[n].text for n in first) >= len(first) - 1


@pytest.mark.slow
def test_api_inference_survives_faults_and_a_rerun_sends_nothing(server, tmp_path):
    plan = FaultPlan(rate_limit=10, server_500=10, empty=15, truncated=10, retry_after_s=0.05)
    running = server(plan)
    dataset = build_world(tmp_path / "world")
    models = _models_dir(tmp_path / "inference", api=_api_spec(running.base_url))
    write_prefixes(dataset, API_METHODS, models)
    bake(dataset, API_METHODS)
    for method in API_METHODS:
        _check_provenance(dataset, method, "scripted-persona")
    gold = {p.name: p.text for p in dataset.prefixes("persona_gold_api")}
    assert all(name in text for name, text in gold.items())
    assert running.ledger.faults["empty"] > 0 and running.ledger.faults["rate_limit"] > 0
    served = running.ledger.summary()["served"]
    before = {m: dataset.prefix_path(m).read_bytes() for m in API_METHODS}
    write_prefixes(dataset, API_METHODS, models)
    assert running.ledger.summary()["served"] == served, "a re-run sent a request the cache holds"
    assert {m: dataset.prefix_path(m).read_bytes() for m in API_METHODS} == before
    assert files_containing(tmp_path, SECRET) == []


@pytest.mark.slow
def test_a_failed_inference_run_resumes_from_what_it_finished(server, tmp_path):
    dataset = build_world(tmp_path / "world")
    poisoned = server(FaultPlan(poison=80.0))
    models = _models_dir(tmp_path / "inference", api=_api_spec(poisoned.base_url) | {"max_retries": 1})
    with pytest.raises(DataError, match="re-run resumes"):
        write_prefixes(dataset, ["persona_xy_2s_api"], models)
    finished = poisoned.ledger.summary()["served"]
    assert finished > 0
    healthy = server()
    _models_dir(tmp_path / "inference", api=_api_spec(healthy.base_url))
    write_prefixes(dataset, ["persona_xy_2s_api"], models)
    total = len(dataset.prefixes("persona_xy_2s_api"))
    assert 0 < healthy.ledger.summary()["served"] < total, "the re-run should ask only what is not finished"


def test_inference_model_errors_name_the_file_and_key(tmp_path, world):
    people, pairs = world.personas(), world.pairs()
    models = _models_dir(tmp_path, bad={"model": "x", "temprature": 0.5}, odd={"model": "x", "backend": "vllm"})
    inference = PersonaInference(models, tmp_path / "cache.sqlite")
    with pytest.raises(DataError, match=r"missing\.yaml"):
        build_prefixes("persona_xy_2s_missing", people, pairs, inference)
    with pytest.raises(DataError, match=r"bad\.yaml:2: unknown key\(s\) \['temprature'\]"):
        build_prefixes("persona_xy_2s_bad", people, pairs, inference)
    with pytest.raises(DataError, match=r"odd\.yaml: backend"):
        build_prefixes("persona_gold_odd", people, pairs, inference)
    with pytest.raises(DataError, match="persona_xy_2s_gpt4"):
        build_prefixes("persona_xy_2s", people, [p.model_copy(update={"meta": None}) for p in pairs])


def test_an_inference_model_yaml_takes_command_line_overrides(tmp_path):
    """The inference YAMLs go through the same YAML + command-line parser as every config."""
    models = _models_dir(tmp_path, api={"model": "m", "base_url": "http://127.0.0.1:9/v1", "concurrency": 8})
    spec = load_inference_model(models, "api", overrides(["concurrency=3", "max_tokens=64"]))
    assert (spec.model, spec.concurrency, spec.max_tokens, spec.temperature, spec.top_p) == ("m", 3, 64, 1.0, 1.0)
    with pytest.raises(DataError, match=r"api\.yaml: unknown key\(s\) \['temprature'\]"):
        load_inference_model(models, "api", overrides(["temprature=1"]))
    with pytest.raises(DataError, match="key=value"):
        overrides(["concurrency"])


def test_a_retrained_local_model_is_asked_again(tmp_path, tiny_model):
    """The cache keys a local model's replies by its weight files, so new weights never get old replies."""
    dataset = build_world(tmp_path / "world")
    model = shutil.copytree(tiny_model, tmp_path / "model")
    models = _models_dir(tmp_path / "inference", tiny={"model": str(model), "backend": "transformers", "max_tokens": 8})
    write_prefixes(dataset, ["persona_gold_tiny"], models)
    before = dataset.prefix_path("persona_gold_tiny").read_bytes()
    write_prefixes(dataset, ["persona_gold_tiny"], models)
    assert dataset.prefix_path("persona_gold_tiny").read_bytes() == before
    weights = next(model.glob("*.safetensors"))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    write_prefixes(dataset, ["persona_gold_tiny"], models)
    assert dataset.prefix_path("persona_gold_tiny").read_bytes() != before
