"""Word-level text overlap: the tokens retrieval and ROUGE-L agree on, and ROUGE-L itself (persona quality)."""

from __future__ import annotations

import re
from collections.abc import Sequence


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens, so matching ignores case and punctuation."""
    return re.findall(r"\w+", text.lower())


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Longest common subsequence by the row-by-row dynamic programme, O(len(a)·len(b)) time, O(len(b)) memory."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 over lower-cased word tokens; 0 when either text has no words."""
    cand, ref = tokens(candidate), tokens(reference)
    common = _lcs_length(cand, ref)
    if common == 0:
        return 0.0
    precision, recall = common / len(cand), common / len(ref)
    return 2 * precision * recall / (precision + recall)
