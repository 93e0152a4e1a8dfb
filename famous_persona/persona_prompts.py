"""The instructions that ask a model for a persona, shared by prefix building (any backend), the persona-inference
training task and the refresh that re-infers personas with the model being trained, so all three ask the same way.
The wording is this project's own."""

from __future__ import annotations

import re
from collections.abc import Sequence

from famous_persona.schema import Pair

TASK = "Task: describe a user from what is known about them."
SAMPLING = {"temperature": 1.0, "top_p": 1.0, "max_tokens": 512}
"""Persona inference sampling of the original setup (docs/design.md §13)."""

_SHAPE = (
    "Write two short paragraphs and nothing else: first who this user probably is (their background and "
    "circumstances), then what they want from an assistant's answers. State only what the evidence supports."
)
FROM_PAIRS = (
    "Here are {n} questions one user put to an AI assistant{answers}. Infer the user behind them, without "
    "guessing a name. " + _SHAPE + "\n\n{shots}"
)
FROM_NAME = "Describe the user {name} as an assistant serving them should picture them. " + _SHAPE
_LABEL = re.compile(r"^\s*(?:persona|user description|description)\s*:\s*", re.IGNORECASE)


def _shot(index: int, pair: Pair, use_answers: bool) -> str:
    block = f"[{index}] Question: {pair.prompt}"
    if use_answers:
        block += f"\nAnswer they preferred: {pair.chosen}\nAnswer they turned down: {pair.rejected}"
    return block


def from_pairs(shots: Sequence[Pair], use_answers: bool) -> str:
    """The request for `persona_xy` (questions with both answers) or `persona_x` (questions only)."""
    answers = ", with the answer they preferred and the one they turned down" if use_answers else ""
    blocks = "\n\n".join(_shot(i + 1, pair, use_answers) for i, pair in enumerate(shots))
    return FROM_PAIRS.format(n=len(shots), answers=answers, shots=blocks)


def from_name(name: str) -> str:
    """The request for `persona_gold_{model}`: a persona from the name alone."""
    return FROM_NAME.format(name=name)


def messages(request: str) -> list[tuple[str, str]]:
    """(role, content) turns sent to an inference model; the system line tells the stages' requests apart."""
    return [("system", TASK), ("user", request)]


def clean(reply: str) -> str:
    """The persona text of a reply: surrounding space and a leading label such as 'Persona:' removed."""
    text = _LABEL.sub("", reply.strip())
    return re.sub(r"\n{3,}", "\n\n", text).strip()
