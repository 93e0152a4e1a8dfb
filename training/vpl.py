"""Variational Preference Learning (VPL): the passive latent-user baseline, trained with TRL's DPOTrainer.

Each person's history is K of their train pairs, embedded once by the frozen starting model (`famous_persona.history`).
Per training row, N of those pairs (never the row's own pair) go through the user encoder (`famous_persona.vpl`):
pair encoder, attention pooling, mean and log-variance heads; z = mu + exp(logvar / 2) * eps is projected to one soft
token that replaces position 0 of the input embeddings, in front of the `no_prefix` text. The same soft token goes to
the policy and to the reference. Loss = TRL's DPO loss + beta_kl * KL(q(z) || N(0, I)).

Why a DPOTrainer subclass: TRL has no stand-alone DPO loss function, so the subclass wraps the public
`compute_loss` instead of re-writing it: it draws z, adds a slot column in front of each sequence, opens the
soft-token context for both models, calls TRL, and adds the KL term. Only public Trainer hooks are overridden
(`compute_loss`, `create_optimizer`, `save_model`, `log`) and a callback restores the encoder of the best checkpoint,
so a TRL upgrade that renames its private methods leaves VPL working. The encoder is a separate module whose
parameters join the optimizer and are saved beside the weights of every checkpoint and of the final model
(`vpl_encoder.safetensors`).

Usage: `python -m training.vpl --config experiments/configs/models/tiny/vpl.yaml --data DIR --fold 0
--output_dir dump/demo/tiny/vpl/no_prefix/fold0 --model_name_or_path dump/demo/tiny/dpo/no_prefix/fold0/sft/model`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from datasets import Dataset
from transformers import TrainerCallback
from trl import DPOConfig, DPOTrainer, ModelConfig
from trl.trainer.dpo_trainer import DataCollatorForPreference

from famous_persona.history import CACHE_NAME, History, build_history
from famous_persona.io import DatasetDir
from famous_persona.schema import DpoRecord
from famous_persona.vpl import (
    EncoderShape,
    UserEncoder,
    kl_to_prior,
    load_encoder_weights,
    sample_z,
    save_encoder,
    soft_token,
)
from training.command import trainer_command
from training.common import Fitted, Job, fit, run_training
from training.run_data import RunArguments

logger = logging.getLogger(__name__)


@dataclass
class VplArguments:
    """The user encoder and its KL weight."""

    history_size: int = field(default=8, metadata={"help": "K: train pairs per person embedded as their history."})
    context_pairs: int = field(default=4, metadata={"help": "N: history pairs sampled per training row."})
    hidden_dim: int = field(default=64, metadata={"help": "Width of the pair encoder."})
    latent_dim: int = field(default=16, metadata={"help": "Dimension of z."})
    beta_kl: float = field(default=0.01, metadata={"help": "Weight of KL(q(z) || N(0, I)) in the loss."})


def with_slot(inputs: dict[str, torch.Tensor], pad_id: int) -> dict[str, torch.Tensor]:
    """A column in front of every sequence for the soft token: attended, never a completion token."""
    out = dict(inputs)
    ones = torch.ones_like(inputs["input_ids"][:, :1])
    out["input_ids"] = torch.cat([ones * pad_id, inputs["input_ids"]], dim=1)
    out["attention_mask"] = torch.cat([ones, inputs["attention_mask"]], dim=1)
    out["completion_mask"] = torch.cat([ones * 0, inputs["completion_mask"]], dim=1)
    return out


def context_mask(history: History, users: torch.Tensor, own: torch.Tensor, n: int | None) -> torch.Tensor:
    """Which history pairs describe each row's user: never the row's own pair; `n` of them at random when given, all
    otherwise. A person whose only history pair is the row itself keeps it, so q(z) is always defined."""
    full = history.mask.to(users.device)[users]
    allowed = full.clone()
    rows = torch.nonzero(own >= 0).squeeze(-1)
    allowed[rows, own[rows]] = False
    if n is not None and n < allowed.shape[1]:
        scores = torch.rand(allowed.shape, device=users.device).masked_fill(~allowed, -1.0)
        picked = torch.zeros_like(allowed).scatter_(1, scores.topk(n, dim=1).indices, True)
        allowed &= picked
    empty = ~allowed.any(dim=1)
    allowed[empty] = full[empty]
    return allowed


@dataclass
class UserCollator:
    """TRL's preference collator, plus each row's user and own-pair slot as tensors."""

    base: DataCollatorForPreference

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self.base(examples)
        batch["user"] = torch.tensor([example["user"] for example in examples])
        batch["own"] = torch.tensor([example["own"] for example in examples])
        return batch


class BestEncoder(TrainerCallback):
    """Once training ends on the best checkpoint's weights, the encoder is put back to that checkpoint's too."""

    def __init__(self, encoder: UserEncoder):
        self.encoder = encoder

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if args.load_best_model_at_end and state.best_model_checkpoint:
            load_encoder_weights(self.encoder, state.best_model_checkpoint)


class VplTrainer(DPOTrainer):
    """DPOTrainer whose policy and reference both read one soft token drawn from the user's posterior."""

    def __init__(self, *args: Any, encoder: UserEncoder, history: History, vpl: VplArguments, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.encoder = encoder.to(self.args.device)
        self.history = history
        self.vpl = vpl
        self.encoder_info: dict[str, Any] = {}
        self.kl: dict[str, list[float]] = {"train": [], "eval": []}
        self.add_callback(BestEncoder(self.encoder))

    def create_optimizer(self, model: Any = None) -> torch.optim.Optimizer:
        """TRL's optimizer for the model, plus one parameter group for the encoder."""
        optimizer = super().create_optimizer(model)
        known = {id(p) for group in optimizer.param_groups for p in group["params"]}
        if not any(id(p) in known for p in self.encoder.parameters()):
            optimizer.add_param_group({"params": list(self.encoder.parameters()), "weight_decay": 0.0})
        return optimizer

    def user_tokens(self, users: torch.Tensor, own: torch.Tensor, training: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Soft tokens (a posterior sample when training, the mean otherwise) and the batch's KL to the prior."""
        self.encoder.train(training)
        mask = context_mask(self.history, users, own, self.vpl.context_pairs if training else None)
        pairs = self.history.embeddings.to(users.device)[users]
        mu, logvar = self.encoder(pairs, mask)
        z = sample_z(mu, logvar) if training else mu
        return self.encoder.token(z), kl_to_prior(mu, logvar)

    def compute_loss(
        self, model: Any, inputs: dict[str, torch.Tensor], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        users, own = inputs.pop("user"), inputs.pop("own")
        tokens, kl = self.user_tokens(users, own, self.model.training)
        inputs = with_slot(inputs, self.processing_class.pad_token_id)
        models = [self.accelerator.unwrap_model(model)]
        if self.ref_model is not None:
            models.append(self.accelerator.unwrap_model(self.ref_model))
        with soft_token(models, tokens.repeat(2, 1)):  # the batch is [chosen rows; rejected rows]
            result = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        self.kl["train" if self.model.training else "eval"].append(kl.item())
        if return_outputs:
            return result[0] + self.vpl.beta_kl * kl, result[1]
        return result + self.vpl.beta_kl * kl

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """TRL's averaged metrics plus the mean KL since the last log."""
        mode = "train" if self.model.training else "eval"
        if self.kl[mode]:
            logs[("eval_" if mode == "eval" else "") + "kl"] = sum(self.kl[mode]) / len(self.kl[mode])
            self.kl[mode].clear()
        super().log(logs, start_time)

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """The model as TRL saves it (checkpoints included), the encoder beside it."""
        super().save_model(output_dir, _internal_call)
        if self.is_world_process_zero():
            save_encoder(self.encoder, output_dir or self.args.output_dir, **self.encoder_info)


def user_dataset(records: list[DpoRecord], base: Dataset, history: History) -> Dataset:
    """The conversational rows plus each row's user (history row) and own pair (history slot, -1 if absent)."""
    users = [history.row(record.name) for record in records]
    own = [history.ids[u].index(r.id) if r.id in history.ids[u] else -1 for u, r in zip(users, records, strict=True)]
    return base.add_column("user", users).add_column("own", own)


def build_encoder(model: Any, history: History, vpl: VplArguments, seed: int) -> UserEncoder:
    torch.manual_seed(seed)
    shape = EncoderShape(
        embed_dim=history.embeddings.shape[-1],
        hidden_dim=vpl.hidden_dim,
        latent_dim=vpl.latent_dim,
        token_dim=model.get_input_embeddings().embedding_dim,
    )
    return UserEncoder(shape)


def build_trainer(job: Job, vpl: VplArguments) -> VplTrainer:
    """Models, every person's embedded history (train pairs only), the fold's rows with their users, the trainer."""
    config, run = job.config, job.run
    if config.precompute_ref_log_probs:
        logger.warning("precompute_ref_log_probs is off for VPL: the reference reads the same fresh z as the policy")
        config.precompute_ref_log_probs = False
    config.remove_unused_columns = False  # the collator reads each row's user and own pair; TRL's picks its columns
    dataset = DatasetDir(run.data)
    name_or_path = job.model_config.model_name_or_path
    policy = job.policy()
    model, ref_model, peft_config = policy.model, policy.reference, policy.peft
    everyone = [person.name for person in dataset.personas()]
    embedder = (name_or_path, ref_model, job.tokenizer)
    cache = job.run_dir / "model" / CACHE_NAME
    history = build_history(
        dataset.pairs(), everyone, vpl.history_size, config.seed, embedder, cache, config.max_length, run.system_prompt
    )
    train_set = user_dataset(job.data.train, job.dataset(job.data.train), history)
    validation = job.dataset(job.data.validation)
    if validation is not None:
        validation = user_dataset(job.data.validation, validation, history)
    trainer = VplTrainer(
        model=model,
        ref_model=ref_model,
        args=config,
        train_dataset=train_set,
        eval_dataset=validation,
        processing_class=job.tokenizer,
        peft_config=peft_config,
        data_collator=UserCollator(
            DataCollatorForPreference(job.tokenizer.pad_token_id, config.max_length, config.truncation_mode)
        ),
        encoder=build_encoder(model, history, vpl, config.seed),
        history=history,
        vpl=vpl,
    )
    trainer.encoder_info = {
        "embedder": name_or_path,
        "history_size": vpl.history_size,
        "history_seed": config.seed,
        "max_length": config.max_length,
        "system_prompt": run.system_prompt,
    }
    return trainer


def build(job: Job, vpl: VplArguments) -> Fitted:
    trainer = build_trainer(job, vpl)
    return fit(trainer, before_resume=lambda checkpoint: load_encoder_weights(trainer.encoder, checkpoint))


def train(run: RunArguments, vpl: VplArguments, config: DPOConfig, model_config: ModelConfig) -> None:
    configs = [run, vpl, config, model_config]
    run_training("training.vpl", run, config, model_config, lambda job: build(job, vpl), configs)


make_parser, main = trainer_command("vpl", [RunArguments, VplArguments, DPOConfig, ModelConfig], __doc__, train)


if __name__ == "__main__":
    main()
