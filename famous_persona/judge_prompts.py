"""The persona judge's request and the parser of its verdict, shared by the generation pipeline (which builds the
chosen/rejected pairs with it) and any evaluation that asks a judge the same question. The wording is this project's
own."""

from __future__ import annotations

import re

TASK = "Task: predict a named person's preference."
JUDGE = (
    "You are predicting the preferences of {name}. Read the question and the two answers, reason briefly about what "
    "{name} cares about, then decide which answer {name} would prefer. End with a final line that is exactly "
    "'Preferred: 1' or 'Preferred: 2'.\n\nQuestion: {question}\n\nAnswer 1:\n{first}\n\nAnswer 2:\n{second}"
)
_VERDICT = re.compile(r"preferred\s*:\s*(?:answer\s*)?([12])\b", re.IGNORECASE)


def request(name: str, question: str, first: str, second: str) -> str:
    """The judge's user turn: which of two answers `name` prefers, reasoning first."""
    return JUDGE.format(name=name, question=question, first=first, second=second)


def messages(text: str) -> list[tuple[str, str]]:
    """(role, content) turns sent to the judge; the system line tells its requests apart in logs and caches."""
    return [("system", TASK), ("user", text)]


def parse_verdict(reply: str) -> int | None:
    """1 or 2 from the last 'Preferred:' line; None when the reply names neither (or both)."""
    found = _VERDICT.findall(reply)
    return int(found[-1]) if found else None
