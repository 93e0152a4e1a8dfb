"""Rank a person's train pairs by how similar their questions are to a query (retrieval prefixes, docs/design.md §5).

Order: most similar first (least similar first when reversed); equal scores are ordered by pair id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
from rank_bm25 import BM25Okapi

from famous_persona.embeddings import MINILM, embed
from famous_persona.errors import DataError
from famous_persona.schema import Pair
from famous_persona.text_overlap import tokens

EMBEDDER = MINILM
MODEL_NAMES = {"bm25": "bm25", "emb": EMBEDDER}

Scorer = Callable[[str], list[float]]


def rank(pool: Sequence[Pair], scores: Sequence[float], k: int, exclude: str, reverse: bool) -> list[Pair]:
    """The k best-scoring pairs of the pool (worst-scoring when reversed), never the excluded pair."""
    sign = 1.0 if reverse else -1.0
    candidates = [(sign * score, pair.id, pair) for score, pair in zip(scores, pool, strict=True) if pair.id != exclude]
    return [pair for _, _, pair in sorted(candidates, key=lambda c: (c[0], c[1]))[:k]]


class Retriever:
    """Scores train pools against questions by BM25 or by cosine similarity of embeddings computed up front."""

    def __init__(self, kind: str, questions: Iterable[str]) -> None:
        if kind not in MODEL_NAMES:
            raise DataError(f"unknown retrieval {kind!r}; expected one of {sorted(MODEL_NAMES)}")
        self.kind = kind
        self.model = MODEL_NAMES[kind]
        self._vectors = embed(questions) if kind == "emb" else {}

    def scorer(self, pool: Sequence[Pair]) -> Scorer:
        """A function giving one similarity per pool pair for a query; built once per pool."""
        if not pool:
            return lambda query: []
        if self.kind == "bm25":
            index = BM25Okapi([tokens(pair.prompt) for pair in pool])
            return lambda query: [float(s) for s in index.get_scores(tokens(query))]
        matrix = np.stack([self._vectors[pair.prompt] for pair in pool])
        return lambda query: [float(s) for s in matrix @ self._vectors[query]]
