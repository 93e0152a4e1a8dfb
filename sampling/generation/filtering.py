"""Stage 5, filtering: score candidates with any HF sequence-classification reward model, keep the `keep` whose
scores span the narrowest range (quality-matched), embed them and pick `diverse` of them with k-means (the member
nearest each centroid). Usage: `python -m sampling.generation.filtering --config <yaml>`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits
from transformers import AutoModelForSequenceClassification

from famous_persona.embeddings import load_embedder
from famous_persona.models import load_tokenizer, placement
from sampling.generation.runtime import Context, stage_command


class RewardModel:
    """Scores (question, answer) through the model's chat template when it has one."""

    def __init__(self, name: str, batch_size: int = 8):
        self.tokenizer = load_tokenizer(name)
        where = placement()
        self.model = AutoModelForSequenceClassification.from_pretrained(name, dtype=where.dtype).to(where.device).eval()
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.batch_size = batch_size

    def _text(self, question: str, answer: str) -> str:
        chat = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(chat, tokenize=False)
        return f"{question}\n\n{answer}"

    def score(self, question: str, answers: Sequence[str]) -> list[float]:
        scores: list[float] = []
        for start in range(0, len(answers), self.batch_size):
            texts = [self._text(question, a) for a in answers[start : start + self.batch_size]]
            batch = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True, add_special_tokens=False)
            batch = batch.to(self.model.device)
            with torch.no_grad():
                scores += self.model(**batch).logits[:, 0].float().tolist()
        return scores


def narrowest_band(scores: Sequence[float], keep: int) -> list[int]:
    """Indices of the `keep` scores whose range (max - min) is smallest."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    if len(order) <= keep:
        return order
    widths = [scores[order[i + keep - 1]] - scores[order[i]] for i in range(len(order) - keep + 1)]
    start = int(np.argmin(widths))
    return order[start : start + keep]


def diverse(embeddings: np.ndarray, k: int, seed: int) -> list[int]:
    """One member per k-means cluster: the one nearest its centroid."""
    if len(embeddings) <= k:
        return list(range(len(embeddings)))
    km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(embeddings)
    picked = []
    for c in range(k):
        members = np.flatnonzero(km.labels_ == c)
        distances = np.linalg.norm(embeddings[members] - km.cluster_centers_[c], axis=1)
        picked.append(int(members[np.argmin(distances)]))
    return sorted(picked)


class Unscored:
    """`reward_model: none`: every candidate scores 0, so the band keeps the first `keep` in sample order (for runs
    whose sampler is too weak for a reward model to separate anything, such as the small-model config)."""

    def score(self, question: str, answers: Sequence[str]) -> list[float]:
        return [0.0] * len(answers)


def run(ctx: Context) -> None:
    if ctx.done("filtered"):
        return
    rows = ctx.read("candidates")
    if not rows:
        ctx.finish("filtered", [], {}, reward_model=ctx.config.reward_model, embedder=ctx.config.embedder)
        return
    none = ctx.config.reward_model == "none"
    reward = Unscored() if none else RewardModel(ctx.config.reward_model, ctx.config.reward_batch_size)
    bands = []
    for row in rows:
        scores = reward.score(row["question"], [c["text"] for c in row["candidates"]])
        bands.append((scores, narrowest_band(scores, ctx.config.keep)))
    texts = [row["candidates"][i]["text"] for row, (_, band) in zip(rows, bands, strict=True) for i in band]
    vectors = load_embedder(ctx.config.embedder).encode(texts, convert_to_numpy=True, normalize_embeddings=True)
    out, start = [], 0
    with threadpool_limits(1):
        for row, (scores, band) in zip(rows, bands, strict=True):
            own = vectors[start : start + len(band)]
            start += len(band)
            picked = [band[i] for i in diverse(own, ctx.config.diverse, ctx.config.seed)]
            out.append(_row(row, scores, band, picked))
    ctx.finish("filtered", out, {}, reward_model=ctx.config.reward_model, embedder=ctx.config.embedder)


def _row(row: dict, scores: list[float], band: list[int], picked: list[int]) -> dict:
    band_scores = [scores[i] for i in band]
    return {
        **{k: v for k, v in row.items() if k != "candidates"},
        "picked": [{**row["candidates"][i], "reward": round(scores[i], 6)} for i in picked],
        "band": [round(min(band_scores), 6), round(max(band_scores), 6)],
    }


make_parser, main = stage_command("filter", run, __doc__)


if __name__ == "__main__":
    main()
