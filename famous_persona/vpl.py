"""The latent-user encoder of Variational Preference Learning, shared by VPL training and VPL scoring.

A user's history (embedded preference pairs) becomes a Gaussian posterior q(z) = N(mu, diag(exp(logvar))); a sample
of z (or its mean at evaluation) is projected to one soft token that sits before the prompt.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from famous_persona.errors import DataError

ENCODER_WEIGHTS = "vpl_encoder.safetensors"
ENCODER_CONFIG = "vpl_encoder.json"


@dataclass(frozen=True)
class EncoderShape:
    """Sizes of the encoder: embedding of one answer, pair features, latent z, and the soft token (model width)."""

    embed_dim: int
    hidden_dim: int
    latent_dim: int
    token_dim: int


class UserEncoder(nn.Module):
    """Pair encoder -> attention pooling over the sampled pairs -> mean and log-variance heads -> soft-token head."""

    def __init__(self, shape: EncoderShape):
        super().__init__()
        self.shape = shape
        self.pair = nn.Sequential(
            nn.Linear(2 * shape.embed_dim, shape.hidden_dim), nn.GELU(), nn.Linear(shape.hidden_dim, shape.hidden_dim)
        )
        self.query = nn.Parameter(torch.randn(shape.hidden_dim) / math.sqrt(shape.hidden_dim))
        self.mean = nn.Linear(shape.hidden_dim, shape.latent_dim)
        self.logvar = nn.Linear(shape.hidden_dim, shape.latent_dim)
        self.token = nn.Linear(shape.latent_dim, shape.token_dim)

    def forward(self, pairs: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z) from `pairs` [batch, n, 2, embed_dim] (chosen, rejected) where `mask` [batch, n] is
        true; the order chosen-then-rejected carries the preference."""
        features = self.pair(pairs.flatten(-2))
        scores = features @ self.query / math.sqrt(self.shape.hidden_dim)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        pooled = (weights.unsqueeze(-1) * features).sum(dim=-2)
        return self.mean(pooled), self.logvar(pooled)


def sample_z(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Reparameterised draw z = mu + sigma * eps with sigma = exp(logvar / 2), so gradients reach the encoder."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def kl_to_prior(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over latent dimensions and averaged over the batch."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1).mean()


@contextmanager
def soft_token(models: Sequence[nn.Module], tokens: torch.Tensor) -> Iterator[None]:
    """While open, position 0 of every sequence a model embeds is replaced by `tokens` ([batch, dim] or [dim]): the
    input embeddings carry z as one soft token before the prompt. The same tensor goes to every model given."""

    def replace_first(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        first = tokens.to(output.device, output.dtype).expand(output.shape[0], -1)
        return torch.cat([first.unsqueeze(1), output[:, 1:]], dim=1)

    handles = [model.get_input_embeddings().register_forward_hook(replace_first) for model in models]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def mean_tokens(encoder: UserEncoder, pairs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Soft tokens at the posterior mean from every history pair: the deterministic z used at evaluation. One person
    at a time, so a person's token never depends on who else is scored with them (batched matmuls round differently).
    """
    tokens = [encoder.token(encoder(pairs[i : i + 1], mask[i : i + 1])[0]) for i in range(len(pairs))]
    return torch.cat(tokens)


def save_encoder(encoder: UserEncoder, out_dir: Path | str, **info: object) -> None:
    """Weights and shape beside the model or adapter, so one directory holds everything VPL scoring needs."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}, out_dir / ENCODER_WEIGHTS)
    (out_dir / ENCODER_CONFIG).write_text(json.dumps({**asdict(encoder.shape), **info}, indent=2) + "\n")


def load_encoder(model_dir: Path | str) -> tuple[UserEncoder, dict]:
    """The encoder saved by `save_encoder` and its extra info (embedder, history size); evaluation mode."""
    model_dir = Path(model_dir)
    if not (model_dir / ENCODER_CONFIG).is_file() or not (model_dir / ENCODER_WEIGHTS).is_file():
        raise DataError(f"{model_dir}: no {ENCODER_CONFIG} / {ENCODER_WEIGHTS}; is this a VPL model directory?")
    info = json.loads((model_dir / ENCODER_CONFIG).read_text())
    shape = EncoderShape(**{key: info.pop(key) for key in EncoderShape.__dataclass_fields__})
    encoder = UserEncoder(shape)
    load_encoder_weights(encoder, model_dir)
    return encoder.eval(), info


def load_encoder_weights(encoder: UserEncoder, model_dir: Path | str) -> None:
    """Restore weights in place (resuming or picking the best checkpoint keeps the optimizer's parameters)."""
    encoder.load_state_dict(load_file(Path(model_dir) / ENCODER_WEIGHTS))
