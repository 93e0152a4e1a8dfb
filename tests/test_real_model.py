"""SmolLM2-135M-Instruct, a real tokenizer, chat template and pretrained weights, through what the tiny word-level
model cannot check: TRL's tokenization of its template, the shared-prefix scorer with and without a LoRA adapter on
every baked prefix family, one LoRA DPO step of the project's trainer, and batched generation and persona inference
that stop at its end token. Converted once from its wheel and loaded once per session (the conftest's `smollm2`
fixtures); marked `smollm2`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
import yaml
from peft import LoraConfig, get_peft_model
from trl import DPOConfig, DPOTrainer

from evaluation.fast_scoring import score_pairs_fast
from famous_persona import chat
from famous_persona.config import parse_config
from famous_persona.decoding import generate
from famous_persona.logprobs import adapter_disabled, completion_logps, score_pairs
from famous_persona.models import load_model, load_tokenizer
from sampling.prefixes.bake import bake
from sampling.prefixes.build import write_prefixes
from tests.support.world import METHODS, build_world
from training import dpo
from training.common import prepare
from training.run_data import RunArguments, to_dataset

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "experiments" / "configs" / "models" / "smollm2"
SYSTEM = yaml.safe_load((RECIPE / "dpo.yaml").read_text())["system_prompt"]


pytestmark = pytest.mark.smollm2


@pytest.fixture(scope="module")
def model(smollm2_model):
    return smollm2_model


@pytest.fixture(scope="module")
def tokenizer(smollm2):
    return load_tokenizer(smollm2)


def _records(world, method: str, per_person: int = 1, people: int = 2) -> list:
    names = sorted({r.name for r in world.dpo(method, "test")})[:people]
    return [r for name in names for r in [r for r in world.dpo(method, "test") if r.name == name][:per_person]]


def _encoded(world, tokenizer, method: str) -> list[chat.EncodedPair]:
    return [chat.encode(tokenizer, chat.conversation(r, tokenizer, 512, SYSTEM)) for r in _records(world, method)]


def _close(a: float, b: float) -> bool:
    """Within 1e-4 plus 1e-5 of the value: float32 through 30 layers sums attention in another order when rows are
    packed (measured: up to 3.3e-4 on a log-prob of -59, 6e-6 of it), while batching alone moves it 1.5e-5."""
    return abs(a - b) <= 1e-4 + 1e-5 * abs(a)


def _assert_same(naive: list[tuple], fast: list[tuple]) -> None:
    for a, b in zip(naive, fast, strict=True):
        assert _close(a[0], b[0]) and _close(a[2], b[2]) and (a[1], a[3]) == (b[1], b[3])
        assert (a[0] / a[1] > a[2] / a[3]) == (b[0] / b[1] > b[2] / b[3]) and (a[0] > a[2]) == (b[0] > b[2])


def test_encode_matches_trl_on_the_smollm2_template(world, smollm2, tokenizer, tmp_path):
    records = _records(world, "persona_gold", per_person=3)
    rows = to_dataset(records, tokenizer, RunArguments(system_prompt=SYSTEM), 512, Counter())
    config = DPOConfig(output_dir=str(tmp_path), report_to="none", use_cpu=True, bf16=False, max_length=512)
    trainer = DPOTrainer(model=load_model(smollm2), args=config, train_dataset=rows, processing_class=tokenizer)
    for record, prepared in zip(records, trainer.train_dataset, strict=True):
        ours = chat.encode(tokenizer, chat.conversation(record, tokenizer, 512, SYSTEM))
        assert (ours.prompt_ids, ours.chosen_ids, ours.rejected_ids) == (
            prepared["prompt_ids"],
            prepared["chosen_ids"],
            prepared["rejected_ids"],
        )
        assert ours.chosen_ids[-2:] == [tokenizer.eos_token_id, *tokenizer("\n")["input_ids"]], "<|im_end|> then \\n"
        assert "SmolLM" not in tokenizer.decode(ours.prompt_ids), "the template's default system message slipped in"


def test_fast_scores_equal_naive_on_every_prefix_family_with_and_without_lora(world, model, tokenizer):
    pad_id = tokenizer.pad_token_id
    for method in METHODS:
        pairs = _encoded(world, tokenizer, method)
        _assert_same(score_pairs(model, pairs, pad_id, 8), score_pairs_fast(model, pairs, pad_id, 8))
    torch.manual_seed(0)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    adapted = get_peft_model(load_model(model.name_or_path), lora).eval()
    for method in ("xyw_2s",):
        pairs = _encoded(world, tokenizer, method)
        policy = score_pairs_fast(adapted, pairs, pad_id, 8)
        _assert_same(score_pairs(adapted, pairs, pad_id, 8), policy)
        with adapter_disabled(adapted):
            _assert_same(score_pairs(model, pairs, pad_id, 8), score_pairs_fast(adapted, pairs, pad_id, 8))
        assert policy != score_pairs(model, pairs, pad_id, 8), "the adapter changes the scores"


def test_one_lora_dpo_step_moves_only_the_adapter_against_the_disabled_base(world, smollm2, model, tmp_path):
    options = ["--config", str(RECIPE / "dpo.yaml"), "--data", str(world.root), "--method", "xyw_2s"]
    options += ["--output_dir", str(tmp_path), "--model_name_or_path", str(smollm2), "--max_train_pairs", "2"]
    options += ["--val_fraction", "0", "--max_steps", "1", "--per_device_train_batch_size", "2", "--use_cpu", "true"]
    options += ["--warmup_steps", "0", "--lr_scheduler_type", "constant", "--gradient_checkpointing", "false"]
    run, config, model_config, _ = parse_config(dpo.make_parser(), options)
    assert config.bf16 is False and model_config.dtype == "auto", "precision follows the CPU"
    job = prepare(run, config, model_config)
    builder = dpo.DpoBuilder(job, refreshing=False)
    trainer = builder(job.data.train, job.data.validation, job.config)
    assert builder.ref_model is None, "with LoRA, TRL's reference is the policy with its adapter disabled"
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    changed = [name for name, p in trainer.model.named_parameters() if not torch.equal(p, before[name])]
    assert changed and all("lora_" in name for name in changed)
    sequences = [(p.prompt_ids, p.chosen_ids) for p in _encoded(world, job.tokenizer, "xyw_2s")]
    pad_id = job.tokenizer.pad_token_id
    with adapter_disabled(trainer.model):
        disabled = completion_logps(trainer.model.eval(), sequences, pad_id)
    base = completion_logps(model, sequences, pad_id)
    assert all(_close(a, b) for (a, _), (b, _) in zip(disabled, base, strict=True))


def test_batched_generation_is_left_padded_and_stops_at_the_end_token(model, tokenizer):
    chats = [[{"role": "user", "content": "Say yes."}], [{"role": "user", "content": "Name one fruit, nothing else."}]]
    together = generate(model, tokenizer, chats, max_new_tokens=40, temperature=0, system_prompt=SYSTEM)
    alone = [generate(model, tokenizer, [c], max_new_tokens=40, temperature=0, system_prompt=SYSTEM)[0] for c in chats]
    assert tokenizer.pad_token_id == tokenizer.eos_token_id
    assert [g.text for g in together] == [g.text for g in alone]
    assert all(g.finished and g.text and g.completion_tokens < 40 for g in together)
    assert not any("<|im_" in g.text for g in together)


def test_smollm2_infers_personas_with_provenance(smollm2, tmp_path):
    dataset = build_world(tmp_path / "world", people=5)
    spec = yaml.safe_load((ROOT / "experiments" / "configs" / "inference" / "smollm2.yaml").read_text())
    (tmp_path / "inference").mkdir()
    spec |= {"model": str(smollm2), "max_tokens": 48}
    (tmp_path / "inference" / "smollm2.yaml").write_text(yaml.safe_dump(spec))
    write_prefixes(dataset, ["persona_gold_smollm2"], str(tmp_path / "inference"))
    bake(dataset, ["persona_gold_smollm2"])
    prefixes = dataset.prefixes("persona_gold_smollm2")
    assert len(prefixes) == 5 and all(p.model == str(smollm2) and p.text.strip() for p in prefixes)
    assert not any("<|im_" in p.text for p in prefixes)
    assert dataset.dpo("persona_gold_smollm2", "test")
