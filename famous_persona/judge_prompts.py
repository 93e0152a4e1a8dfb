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
# The short form for small models (the generation pipeline's `small` style): one line, answered by one letter.
SHORT_JUDGE = (
    "Question: {question}\nAnswer A: {first}\nAnswer B: {second}\n{name}{known_for} asked this question. Which "
    "answer would {name} prefer, A or B? Reply with one letter."
)
_LETTER = re.compile(r"^\W*(?i:(?:the\s+)?(?:answer|option)\s+)?([AB])\b")


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


def short_request(name: str, question: str, first: str, second: str, known_for: str = "") -> str:
    """The short judge request: `known_for` (e.g. ' (sports: tennis)') says what the person is known for."""
    return SHORT_JUDGE.format(name=name, known_for=known_for, question=question, first=first, second=second)


def parse_letter(reply: str) -> int | None:
    """1 for a reply that opens with A, 2 for B (also 'Answer B', 'Option A.'); None otherwise."""
    found = _LETTER.match(reply.strip())
    return None if found is None else "AB".index(found[1]) + 1
