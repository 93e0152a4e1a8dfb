"""Reward-accuracy metrics of a scored pair (docs/design.md §10), shared by evaluation and analysis.

A pair is correct iff the chosen answer's score is strictly greater than the rejected one's: ties count as wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

METRICS = ("ref_free_avg", "ref_free_sum", "dpo_ref")
TIE_POLICY = "a tie (equal scores) counts as wrong"


def margin(row: Mapping[str, Any], metric: str, beta: float = 1.0) -> float | None:
    """Chosen minus rejected score; None when the row lacks what the metric needs (no reference scores)."""
    if metric == "ref_free_avg":
        return row["chosen_logp"] / row["chosen_tokens"] - row["rejected_logp"] / row["rejected_tokens"]
    if metric == "ref_free_sum":
        return row["chosen_logp"] - row["rejected_logp"]
    if metric == "dpo_ref":
        if row.get("ref_chosen_logp") is None or row.get("ref_rejected_logp") is None:
            return None
        chosen = row["chosen_logp"] - row["ref_chosen_logp"]
        rejected = row["rejected_logp"] - row["ref_rejected_logp"]
        return beta * (chosen - rejected)
    raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")


def is_correct(row: Mapping[str, Any], metric: str) -> bool | None:
    value = margin(row, metric)
    return None if value is None else value > 0
