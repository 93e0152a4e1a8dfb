"""The persona judge's request and the parser of its verdict, shared by the generation pipeline (which builds the
chosen/rejected pairs with it) and any evaluation that asks a judge the same question. The wording is this project's
own; the reasoned request and the task line are famous_persona/wording.yaml's `judge_*` fields, which evaluation's
persona judge lets a `--wording` file replace (`worded_request`, `worded_messages`)."""

from __future__ import annotations

import re

from famous_persona.wording import Wording, default_wording

TASK = default_wording()["judge_task"]
JUDGE = default_wording()["judge_request"]
# A worked example shown before the comparison(s) when the judge asks for them (the original's judge had examples).
EXAMPLE = (
    "A worked example first. Predicting the preferences of a marathon runner who grew up on a farm, for the question "
    "'What should I do on a free Sunday?', Answer 1 suggested a long brunch in town and Answer 2 a trail run followed "
    "by a visit to a farmers' market. Reasoning: the runner trains on weekends and values rural life, so the second "
    "answer fits their habits.\nPreferred: 2\n\nNow the real task.\n\n"
)
BATCH_JUDGE = (
    "You are predicting the preferences of {name}. Below are {k} questions {name} asked, each with two answers. For "
    "each, reason briefly about what {name} cares about, then decide which answer {name} would prefer. End with one "
    "line per question, in order, exactly 'Comparison N: Preferred: 1' or 'Comparison N: Preferred: 2'.\n\n"
    "{comparisons}"
)
COMPARISON = "Comparison {i}.\nQuestion: {question}\nAnswer 1:\n{first}\nAnswer 2:\n{second}"
_BATCH_VERDICT = re.compile(r"comparison\s*(\d+)\s*:\s*preferred\s*:\s*(?:answer\s*)?([12])\b", re.IGNORECASE)
_VERDICT = re.compile(r"preferred\s*:\s*(?:answer\s*)?([12])\b", re.IGNORECASE)
# The short form for small models (the generation pipeline's `small` style): one line, answered by one letter.
SHORT_JUDGE = (
    "Question: {question}\nAnswer A: {first}\nAnswer B: {second}\n{name}{known_for} asked this question. Which "
    "answer would {name} prefer, A or B? Reply with one letter."
)
_LETTER = re.compile(r"^\W*(?i:(?:the\s+)?(?:answer|option)\s+)?([AB])\b")
# The copy form for models too small to name a letter by content (measured with SmolLM2-135M, docs/generation.md):
# the judge writes out the answer it prefers, and the verdict is the answer whose own word runs the reply repeats.
COPY_JUDGE = (
    "{name}{known_for} asked: {question}\n\nFirst answer: {first}\nSecond answer: {second}\n\nWhich answer suits "
    "{name} better? Repeat that answer exactly."
)
_WORD = re.compile(r"[a-z0-9']+")
COPY_RUN = 3  # words in a run: shorter runs ("of the") are shared by any two English answers
COPY_MIN_RUNS = 2


def request(name: str, question: str, first: str, second: str, example: bool = False) -> str:
    """The judge's user turn: which of two answers `name` prefers, reasoning first (after a worked example)."""
    return (EXAMPLE if example else "") + worded_request(default_wording(), name, question, first, second)


def worded_request(wording: Wording, name: str, question: str, first: str, second: str) -> str:
    """The reasoned request in `wording`'s words."""
    return wording.fill("judge_request", name=name, question=question, first=first, second=second)


def batch_request(name: str, comparisons: list[tuple[str, str, str]], example: bool = False) -> str:
    """One request for several (question, first, second) comparisons of one person, answered line by line."""
    shown = "\n\n".join(
        COMPARISON.format(i=i, question=q, first=a, second=b) for i, (q, a, b) in enumerate(comparisons, 1)
    )
    text = BATCH_JUDGE.format(name=name, k=len(comparisons), comparisons=shown)
    return (EXAMPLE if example else "") + text


def parse_batch(reply: str, k: int) -> list[int | None]:
    """The verdict of each of `k` comparisons from its last 'Comparison N: Preferred: x' line (None where absent)."""
    found: dict[int, int] = {}
    for number, choice in _BATCH_VERDICT.findall(reply):
        found[int(number)] = int(choice)
    return [found.get(i) for i in range(1, k + 1)]


def messages(text: str) -> list[tuple[str, str]]:
    """(role, content) turns sent to the judge; the system line tells its requests apart in logs and caches."""
    return worded_messages(default_wording(), text)


def worded_messages(wording: Wording, text: str) -> list[tuple[str, str]]:
    """The judge's turns under `wording`'s task line."""
    return [("system", wording["judge_task"]), ("user", text)]


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


def copy_request(name: str, question: str, first: str, second: str, known_for: str = "") -> str:
    """The copy-form judge request: the judge repeats the answer `name` would prefer."""
    return COPY_JUDGE.format(name=name, known_for=known_for, question=question, first=first, second=second)


def _runs(text: str) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + COPY_RUN]) for i in range(len(words) - COPY_RUN + 1)}


def parse_copy(reply: str, first: str, second: str) -> int | None:
    """1 or 2: the answer whose own three-word runs the reply repeats, at least twice and three times as often as
    the other's; None when it repeats neither, or both (an echo of the whole request)."""
    said, one, two = _runs(reply), _runs(first), _runs(second)
    hits = (len(said & (one - two)), len(said & (two - one)))
    best = max(hits)
    if best < COPY_MIN_RUNS or 3 * min(hits) > best:
        return None
    return hits.index(best) + 1
