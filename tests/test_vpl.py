"""VPL: the encoder learns, the KL term is real, policy and reference share z, scores survive save and load, and no
test pair reaches z."""

from __future__ import annotations

import json

import pytest
import torch
from trl import DPOConfig, ModelConfig

from evaluation.score import ScoreArguments, score
from evaluation.vpl_scoring import score_with_tokens
from famous_persona import chat
from famous_persona.errors import DataError
from famous_persona.history import CACHE_NAME, build_history, history_ids
from famous_persona.models import load_tokenizer
from famous_persona.vpl import kl_to_prior, load_encoder, mean_tokens, sample_z
from tests.support.world import CPU_TRAINING
from training.common import prepare
from training.run_data import RunArguments
from training.vpl import VplArguments, build_trainer, context_mask


def _config(tmp_path, **overrides) -> DPOConfig:
    settings = dict(
        **CPU_TRAINING,
        output_dir=str(tmp_path),
        gradient_checkpointing=False,
        per_device_train_batch_size=8,
        learning_rate=1e-2,
        max_steps=2,
        save_strategy="no",
        precompute_ref_log_probs=False,
        seed=0,
    )
    return DPOConfig(**{**settings, **overrides})


@pytest.fixture
def trainer(world, tiny_model, tmp_path):
    run = RunArguments(data=str(world.root), method="no_prefix", fold=0, val_fraction=0.0)
    job = prepare(run, _config(tmp_path), ModelConfig(model_name_or_path=str(tiny_model)))
    return build_trainer(job, VplArguments())


def _batch(trainer) -> dict[str, torch.Tensor]:
    return next(iter(trainer.get_train_dataloader()))


def test_encoder_is_optimised(trainer):
    before = {name: p.detach().clone() for name, p in trainer.encoder.named_parameters()}
    trainer.train()
    encoder_params = {id(p) for p in trainer.encoder.parameters()}
    optimised = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert encoder_params <= optimised
    changed = [name for name, p in trainer.encoder.named_parameters() if not torch.equal(before[name], p)]
    assert {"pair.0.weight", "query", "mean.weight", "logvar.weight", "token.weight"} <= set(changed)


def test_kl_is_positive_differentiable_and_in_the_loss(trainer):
    mu = torch.randn(4, 16, requires_grad=True)
    logvar = torch.randn(4, 16, requires_grad=True)
    kl = kl_to_prior(mu, logvar)
    kl.backward()
    assert kl.item() > 0 and mu.grad.abs().sum() > 0 and logvar.grad.abs().sum() > 0
    assert kl_to_prior(torch.zeros(2, 3), torch.zeros(2, 3)).item() == 0.0
    trainer.model.eval()
    batch = _batch(trainer)
    without = trainer.compute_loss(trainer.model, dict(batch))
    trainer.vpl.beta_kl = 1.0
    with_kl = trainer.compute_loss(trainer.model, dict(batch))
    _, expected = trainer.user_tokens(batch["user"], batch["own"], training=False)
    trainer.vpl.beta_kl = 0.0
    dpo_only = trainer.compute_loss(trainer.model, dict(batch))
    assert with_kl.item() == pytest.approx(dpo_only.item() + expected.item(), rel=1e-5)
    assert without.item() == pytest.approx(dpo_only.item() + 0.01 * expected.item(), rel=1e-5)


def test_reparameterisation_uses_the_standard_deviation():
    torch.manual_seed(0)
    draws = sample_z(torch.full((20000, 1), 2.0), torch.full((20000, 1), 2 * torch.log(torch.tensor(3.0))))
    assert draws.mean().item() == pytest.approx(2.0, abs=0.1)
    assert draws.std().item() == pytest.approx(3.0, rel=0.05)


def test_policy_and_reference_receive_the_same_z(trainer):
    seen: dict[str, list[torch.Tensor]] = {"policy": [], "reference": []}
    for key, model in (("policy", trainer.model), ("reference", trainer.ref_model)):

        def record(module, args, kwargs, key=key):
            hidden = args[0] if args else kwargs["hidden_states"]
            seen[key].append(hidden[:, 0].detach().clone())

        model.model.layers[0].register_forward_pre_hook(record, with_kwargs=True)
    trainer.model.train()
    torch.manual_seed(1)
    trainer.compute_loss(trainer.model, dict(_batch(trainer)))
    assert len(seen["policy"]) == len(seen["reference"]) == 1
    assert torch.equal(seen["policy"][0], seen["reference"][0])
    half = seen["policy"][0].shape[0] // 2
    assert torch.equal(seen["policy"][0][:half], seen["policy"][0][half:])  # chosen and rejected rows share z
    assert not torch.equal(seen["policy"][0][0], trainer.model.get_input_embeddings().weight[0])


def test_save_load_score_reproduces_scores(trainer, world, tmp_path):
    trainer.train()
    model_dir = tmp_path / "model"
    trainer.save_model(str(model_dir))
    trainer.processing_class.save_pretrained(str(model_dir))
    records = world.dpo("no_prefix", "test")
    tokenizer = trainer.processing_class
    encoded = [chat.encode(tokenizer, chat.conversation(r, tokenizer, 512)) for r in records]
    history = trainer.history
    tokens = mean_tokens(trainer.encoder.cpu().eval(), history.embeddings, history.mask)
    by_name = {name: tokens[row] for row, name in enumerate(history.names)}
    names = [r.name for r in records]
    in_memory = score_with_tokens(trainer.model.eval(), encoded, names, by_name, tokenizer.pad_token_id, 8)
    args = ScoreArguments(
        model=str(model_dir),
        train_method="vpl",
        data=str(world.root),
        test_method="no_prefix",
        fold=0,
        out=str(tmp_path / "eval"),
        batch_size=8,
    )
    summary = score(args)
    rows = [json.loads(line) for line in (tmp_path / "eval" / "scores.jsonl").read_text().splitlines()]
    assert summary["train_method"] == "vpl" and summary["n_pairs"] == len(records)
    assert summary["scorer"] == "vpl", "a VPL model directory is scored with its soft tokens without being told"
    assert [(r["chosen_logp"], r["rejected_logp"]) for r in rows] == [(s[0], s[2]) for s in in_memory]
    assert score(args) is None  # finished: skipped


def test_history_holds_only_train_pairs(world, tiny_model, tmp_path):
    pairs = world.pairs()
    test_ids = {pair.id for pair in pairs if pair.split == "test"}
    names = [person.name for person in world.personas()]
    chosen = history_ids(pairs, names, k=100, seed=0)
    for name in names:
        train_ids = {pair.id for pair in pairs if pair.name == name and pair.split == "train"}
        assert set(chosen[name]) == train_ids and not set(chosen[name]) & test_ids
    embedder = (str(tiny_model), None, load_tokenizer(tiny_model))
    history = build_history(pairs, names, 4, 0, embedder, tmp_path / CACHE_NAME)
    altered = [
        pair.model_copy(update={"chosen": "changed " + pair.chosen}) if pair.split == "test" else pair for pair in pairs
    ]
    again = build_history(altered, names, 4, 0, embedder, tmp_path / "fresh" / CACHE_NAME)
    assert torch.equal(history.embeddings, again.embeddings)
    assert all(not set(ids) & test_ids for ids in history.ids)


def test_person_without_train_pairs_is_a_clear_error(world):
    pairs = [pair for pair in world.pairs() if not (pair.name == world.personas()[0].name and pair.split == "train")]
    with pytest.raises(DataError, match="no split=train pairs"):
        history_ids(pairs, [world.personas()[0].name], k=4, seed=0)


def test_context_never_holds_the_rows_own_pair(trainer):
    users = torch.tensor([0, 0, 1])
    own = torch.tensor([2, -1, 0])
    for n in (None, 3):
        mask = context_mask(trainer.history, users, own, n)
        assert not mask[0, 2] and not mask[2, 0]
        assert mask.sum(dim=1).max() <= (n or trainer.history.mask.shape[1])
        assert (mask <= trainer.history.mask[users]).all()


def test_saved_encoder_loads_with_its_history_settings(trainer, tmp_path):
    trainer.encoder_info = {"embedder": "somewhere", "history_size": 8}
    trainer.save_model(str(tmp_path / "saved"))
    encoder, info = load_encoder(tmp_path / "saved")
    assert info == {"embedder": "somewhere", "history_size": 8}
    for (name, a), (_, b) in zip(encoder.state_dict().items(), trainer.encoder.state_dict().items(), strict=True):
        assert torch.equal(a, b.cpu()), name


def test_missing_encoder_is_a_clear_error(tiny_model):
    with pytest.raises(DataError, match="VPL model directory"):
        load_encoder(tiny_model)
