"""The device and precision policy of in-process models, and that every model a stage loads for itself goes
through it. A GPU is simulated: the policy's inputs are patched, and the `meta` device stands in for the GPU so that
a model really moves without one."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from famous_persona import models
from famous_persona.errors import DataError
from famous_persona.models import Placement, load_model, placement


@pytest.fixture
def gpu_box(monkeypatch):
    """A machine whose CUDA sees a GPU; `bf16` says whether it computes in bfloat16."""

    def simulate(bf16: bool) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16)
        monkeypatch.setattr(models, "process_state", lambda: SimpleNamespace(device=torch.device("cuda", 1)))

    return simulate


@pytest.fixture
def meta_gpu(monkeypatch):
    """The policy's device is `meta` (a GPU that needs no hardware) and bfloat16 is supported."""
    monkeypatch.setattr(models, "best_device", lambda: torch.device("meta"))
    monkeypatch.setattr(models, "bf16_supported", lambda: True)


def test_a_cpu_box_gets_the_cpu_in_float32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert placement() == Placement(torch.device("cpu"), torch.float32)
    assert placement(None, None) == Placement(torch.device("cpu"), torch.float32)
    assert placement("bfloat16").dtype == torch.bfloat16


def test_a_gpu_with_bf16_gets_this_process_gpu_in_bfloat16(gpu_box):
    gpu_box(bf16=True)
    assert placement() == Placement(torch.device("cuda", 1), torch.bfloat16)
    assert placement("float32").dtype == torch.float32


def test_a_gpu_without_bf16_gets_float32(gpu_box):
    gpu_box(bf16=False)
    assert placement() == Placement(torch.device("cuda", 1), torch.float32)


def test_a_named_cpu_on_a_gpu_box_stays_float32(gpu_box):
    gpu_box(bf16=True)
    assert placement(device="cpu") == Placement(torch.device("cpu"), torch.float32)


def test_quantized_loading_without_a_gpu_is_a_clear_error(monkeypatch, tiny_model):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DataError, match="load_in_4bit: .* needs a CUDA GPU"):
        load_model(tiny_model, quantization="4bit")


def test_load_model_places_by_the_policy_only_when_asked(meta_gpu, tiny_model):
    placed = load_model(tiny_model, dtype="auto", device="auto")
    weight = next(placed.parameters())
    assert (weight.device.type, weight.dtype) == ("meta", torch.bfloat16)
    left = next(load_model(tiny_model).parameters())
    assert (left.device.type, left.dtype) == ("cpu", torch.float32)


def test_persona_inference_backend_uses_the_policy(meta_gpu, tiny_model):
    from famous_persona.llm.local import TransformersBackend

    weight = next(TransformersBackend(str(tiny_model)).model.parameters())
    assert (weight.device.type, weight.dtype) == ("meta", torch.bfloat16)


def test_reward_filter_uses_the_policy(meta_gpu, tmp_path):
    from sampling.generation.filtering import RewardModel
    from tests.support.tiny_reward import build_tiny_reward_model

    weight = next(RewardModel(str(build_tiny_reward_model(tmp_path / "reward"))).model.parameters())
    assert (weight.device.type, weight.dtype) == ("meta", torch.bfloat16)


def test_embedder_uses_the_policy_device(meta_gpu):
    from famous_persona.embeddings import load_embedder

    embedder = load_embedder("minilm")
    weight = next(embedder.parameters())
    assert (weight.device.type, weight.dtype) == ("meta", torch.float32)


def _spy_on(monkeypatch, module) -> list[dict]:
    """Record the keyword arguments of every `load_model` call made from `module`, then load as usual."""
    calls: list[dict] = []

    def spy(name, **kwargs):
        calls.append(kwargs)
        return load_model(name, **kwargs)

    monkeypatch.setattr(module, "load_model", spy)
    return calls


def test_attribution_loads_by_the_policy(monkeypatch, tiny_model):
    from analysis import margins
    from analysis.attribution import AttributionArguments
    from famous_persona import eval_target

    calls = _spy_on(monkeypatch, eval_target)
    margins.model_scorer(AttributionArguments(model=str(tiny_model)))
    where = placement("auto", "auto")
    assert calls == [{"dtype": str(where.dtype).removeprefix("torch."), "adapter": None, "device": str(where.device)}]


def test_vpl_history_loads_its_embedder_by_the_policy(monkeypatch, world, tiny_model, tmp_path):
    from famous_persona import history
    from famous_persona.models import load_tokenizer

    calls = _spy_on(monkeypatch, history)
    names = [person.name for person in world.personas()][:2]
    embedder = (str(tiny_model), None, load_tokenizer(tiny_model))
    history.build_history(world.pairs(), names, 2, 0, embedder, tmp_path / history.CACHE_NAME)
    assert calls == [{"device": "auto"}]
