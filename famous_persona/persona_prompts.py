"""The instructions that ask a model for a persona, shared by prefix building (any backend), the persona-inference
training task and the refresh that re-infers personas with the model being trained, so all three ask the same way.
The words are famous_persona/wording.yaml's `persona_*` fields (this project's own), which a `--wording` file
replaces; this module puts the shots into them."""

from __future__ import annotations

import re
from collections.abc import Sequence

from famous_persona.schema import Pair
from famous_persona.wording import Wording, default_wording

TASK = default_wording()["persona_task"]
SAMPLING = {"temperature": 1.0, "top_p": 1.0, "max_tokens": 512}
"""Persona inference sampling of the original setup (docs/design.md §13)."""

_LABEL = re.compile(r"^\s*(?:persona|user description|description)\s*:\s*", re.IGNORECASE)


def _shot(index: int, pair: Pair, use_answers: bool, wording: Wording) -> str:
    block = wording.fill("persona_shot", index=index, question=pair.prompt)
    if use_answers:
        block += "\n" + wording.fill("persona_shot_answers", chosen=pair.chosen, rejected=pair.rejected)
    return block


def from_pairs(shots: Sequence[Pair], use_answers: bool, wording: Wording | None = None) -> str:
    """The request for `persona_xy` (questions with both answers) or `persona_x` (questions only)."""
    wording = wording or default_wording()
    answers = wording["persona_answers"] if use_answers else ""
    blocks = "\n\n".join(_shot(i + 1, pair, use_answers, wording) for i, pair in enumerate(shots))
    return wording.fill("persona_from_pairs", n=len(shots), answers=answers, shots=blocks)


def from_name(name: str, wording: Wording | None = None) -> str:
    """The request for `persona_gold_{model}`: a persona from the name alone."""
    return (wording or default_wording()).fill("persona_from_name", name=name)


def messages(request: str, wording: Wording | None = None) -> list[tuple[str, str]]:
    """(role, content) turns sent to an inference model; the system line tells the stages' requests apart."""
    return [("system", (wording or default_wording())["persona_task"]), ("user", request)]


def clean(reply: str) -> str:
    """The persona text of a reply: surrounding space and a leading label such as 'Persona:' removed."""
    text = _LABEL.sub("", reply.strip())
    return re.sub(r"\n{3,}", "\n\n", text).strip()
