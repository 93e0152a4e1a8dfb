"""Persona refresh during DPO: the policy re-infers the persona prefixes between rounds, the rows showing them are
re-baked, quality is logged, and a run interrupted after a round resumes from that round's model."""

from __future__ import annotations

import json

import pytest
import torch
from trl import DPOConfig, DPOTrainer, ModelConfig

from famous_persona.chat import user_turn
from famous_persona.decoding import Generated
from famous_persona.errors import DataError
from famous_persona.io import read_json, read_jsonl, write_jsonl
from famous_persona.models import load_model, load_tokenizer
from famous_persona.schema import Prefix
from sampling.prefixes.bake import bake
from tests.support.world import CPU_TRAINING, build_world
from training import dpo
from training.persona_refresh import PersonaRefresher, RefreshArguments
from training.run_data import RunArguments

pytestmark = pytest.mark.slow  # the tests read one refreshed training run, made by the module's fixture
METHOD = "persona_xy_4s"
TRAINING_SET = f"{METHOD}+persona_task_2s_from_persona_gold_ratio0.25"
"""The model learns the inference task while it trains on its own inferences: the intended use of the refresh."""


def _train(dataset, model, run_dir, **model_options) -> None:
    config = DPOConfig(
        output_dir=str(run_dir),
        num_train_epochs=2,
        per_device_train_batch_size=16,
        learning_rate=1e-3,
        max_length=256,
        logging_steps=5,
        **CPU_TRAINING,
    )
    run = RunArguments(data=str(dataset.root), method=TRAINING_SET, fold=0)
    refresh = RefreshArguments(refresh_every=1, refresh_method=METHOD, refresh_max_new_tokens=8)
    dpo.train(run, config, ModelConfig(model_name_or_path=str(model), **model_options), refresh)


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory, tiny_model):
    dataset = build_world(tmp_path_factory.mktemp("refresh"))
    bake(dataset, [TRAINING_SET])
    run_dir = tmp_path_factory.mktemp("run") / "persona_xy_4s" / "fold0"
    _train(dataset, tiny_model, run_dir)
    return dataset, run_dir


def test_every_round_reinfers_and_logs_quality(refreshed):
    dataset, run_dir = refreshed
    original = {(p.name, p.pair_id): p for p in dataset.prefixes(METHOD)}
    log = read_json(run_dir / "manifest.json")["persona_refresh"]["rounds"]
    assert [entry["round"] for entry in log] == [0, 1]
    for entry in log:
        assert entry["prefixes"] == len(original) and 0.0 <= entry["rouge_l_to_gold"] <= 1.0
        redone = read_jsonl(run_dir / "refresh" / f"round{entry['round']}" / "prefixes.jsonl", Prefix)
        assert [p.shots for p in redone] == [original[(p.name, p.pair_id)].shots for p in redone]
        assert sum(p.text != original[(p.name, p.pair_id)].text for p in redone) > len(redone) // 2
    assert (run_dir / "refresh" / "round0" / "model").is_dir() and (run_dir / "model").is_dir()
    assert read_json(run_dir / "manifest.json")["persona_refresh"]["method"] == METHOD


def test_only_rows_showing_the_method_are_rebaked(refreshed):
    dataset, run_dir = refreshed
    refresher = PersonaRefresher(dataset, METHOD, RefreshArguments(), run_dir / "refresh")
    persona_rows, other_rows = dataset.dpo(METHOD, "train"), dataset.dpo("xyw_2s", "train")
    rebaked, validation = refresher.apply((persona_rows + other_rows, persona_rows[:5]), 0)
    assert rebaked[len(persona_rows) :] == other_rows
    assert validation == rebaked[:5], "every list handed in is re-baked, not only the first"
    texts = {(p.name, p.pair_id): p.text for p in read_jsonl(run_dir / "refresh/round0/prefixes.jsonl", Prefix)}
    pairs = {pair.id: pair for pair in dataset.pairs()}
    for row in rebaked[: len(persona_rows)]:
        text = texts.get((row.name, row.id), texts[(row.name, None)])
        assert row.prompt[-1].content == user_turn(METHOD, text, pairs[row.id].prompt)


def test_a_run_stopped_after_a_round_resumes_from_that_rounds_model(refreshed, tiny_model):
    dataset, run_dir = refreshed
    log = run_dir / "refresh" / "log.jsonl"
    write_jsonl(log, [entry for entry in map(json.loads, log.read_text().splitlines()) if entry["round"] == 0])
    (run_dir / "manifest.json").unlink()
    _train(dataset, tiny_model, run_dir)
    refresh = read_json(run_dir / "manifest.json")["persona_refresh"]
    assert refresh["resumed_from"] == "refresh/round0/model"
    assert [entry["round"] for entry in refresh["rounds"]] == [0, 1]


def test_lora_rounds_keep_the_base_model_as_reference(refreshed, tiny_model, tmp_path, monkeypatch):
    """Later rounds hand a trained adapter on; the reference must stay the base, never a frozen copy of the adapter."""
    dataset, _ = refreshed
    trainers: list[DPOTrainer] = []

    class Recorded(DPOTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            trainers.append(self)

    monkeypatch.setattr(dpo, "DPOTrainer", Recorded)
    run_dir = tmp_path / "lora"
    lora = dict(use_peft=True, lora_r=4, lora_alpha=8, lora_target_modules=["q_proj", "v_proj"])
    _train(dataset, tiny_model, run_dir, **lora)
    assert [entry["round"] for entry in read_json(run_dir / "manifest.json")["persona_refresh"]["rounds"]] == [0, 1]
    saved = sorted(path.name for path in (run_dir / "model").iterdir())
    assert "adapter_model.safetensors" in saved and "ref" not in saved
    base = load_model(tiny_model).state_dict()
    assert len(trainers) == 2
    for trainer in trainers:
        reference = trainer.accelerator.unwrap_model(trainer.ref_model).state_dict()
        assert not any("lora" in name for name in reference), "the reference carries an adapter"
        assert reference.keys() == base.keys()
        assert all(torch.equal(reference[name], base[name]) for name in base)
    policy = trainers[1].model.state_dict()
    assert any("lora" in name for name in policy), "round 1 trains the adapter handed on by round 0"


def test_only_persona_methods_shown_in_training_can_be_refreshed(refreshed):
    dataset, run_dir = refreshed
    with pytest.raises(DataError, match="only persona"):
        PersonaRefresher(dataset, "xyw_2s", RefreshArguments(), run_dir / "x")
    gold = PersonaRefresher(dataset, "persona_gold", RefreshArguments(), run_dir / "x")
    with pytest.raises(DataError, match="no training row shows"):
        gold.check_shown(dataset.dpo(TRAINING_SET, "train"))


def test_the_refresh_generates_with_the_runs_system_turn(refreshed, tiny_model, tmp_path, monkeypatch):
    from training import persona_refresh

    dataset, _ = refreshed
    seen = []

    def fake_generate(model, tokenizer, chats, limit, seed, system_prompt):
        seen.append(system_prompt)
        return [Generated("Likes plain words.", True, 1, 1) for _ in chats]

    monkeypatch.setattr(persona_refresh, "generate", fake_generate)
    refresher = PersonaRefresher(dataset, METHOD, RefreshArguments(), tmp_path / "refresh", system_prompt="")
    refresher.refresh(load_model(tiny_model), load_tokenizer(tiny_model), 0, seed=0)
    assert seen and set(seen) == {""}
