"""Exact and near-duplicate removal for generated questions (word-bigram Jaccard similarity)."""

from __future__ import annotations

import re
from collections.abc import Iterable


def normalise(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def shingles(text: str) -> set[tuple[str, ...]]:
    words = normalise(text).split()
    return {tuple(words[i : i + 2]) for i in range(max(1, len(words) - 1))}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def deduplicate(texts: Iterable[str], threshold: float) -> tuple[list[str], int, int]:
    """Keep the first of each group of duplicates; returns (kept, exact duplicates, near duplicates)."""
    kept: list[str] = []
    seen: set[str] = set()
    kept_shingles: list[set] = []
    exact = near = 0
    for text in texts:
        key = normalise(text)
        if not key or key in seen:
            exact += 1
            continue
        grams = shingles(text)
        if any(jaccard(grams, other) >= threshold for other in kept_shingles):
            near += 1
            continue
        seen.add(key)
        kept.append(text.strip())
        kept_shingles.append(grams)
    return kept, exact, near
