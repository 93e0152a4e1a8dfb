"""Every instruction the generation pipeline sends, and the parsers of the replies (wording is this project's own);
the persona judge's request and verdict live in the core (famous_persona.judge_prompts), shared with evaluation.

Each system message starts with a task line (`TASKS`), so logs, the cache and the scripted test server can tell the
stages apart."""

from __future__ import annotations

import json
import re

from famous_persona import judge_prompts, persona_prompts

TASKS = {
    "personas": "Task: propose representative people.",
    "personal": "Task: write personal questions.",
    "divergent": "Task: write divergent questions.",
    "candidate": "Task: answer for a kind of user.",
    "judge": judge_prompts.TASK,
    "persona": persona_prompts.TASK,
}

PERSONAS = (
    "People disagree along the axis '{axis}'. List {n} distinct groups (sub-categories) along this axis and, for each, "
    "up to three famous living people who clearly represent it. Reply with JSON only: a list of objects with keys "
    '"category" and "people" (a list of full names).'
)

PERSONAL = (
    "Think of {name}. Write {n} questions this person might plausibly type into a text-only AI assistant. Each "
    "question should be open to opinion, answerable in writing, and one where {name}'s ideal answer would differ from "
    "what most people want. Vary the topics. Do not mention {name} in the questions. Reply with a numbered list, one "
    "question per line, nothing else."
)

DIVERGENT = (
    "Consider people who differ by {axis} ({categories}). Write {n} questions that any of them might ask an AI "
    "assistant, where each group would want a noticeably different answer. The wording must not reveal or assume any "
    "group. Reply with a numbered list, one question per line, nothing else."
)

CANDIDATE = (
    "A user asked the question below. First, in one or two sentences after 'Reasoning:', consider what kinds of users "
    "could ask it and on which aspect of identity they would differ. Then name one such kind of user after "
    "'User type:'. Finally, after 'Answer:', write a helpful answer tailored to that kind of user, without naming the "
    "user type in the answer.\n\nQuestion: {question}"
)

_NUMBERED = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s*(?P<text>.+?)\s*$")


def messages(task: str, text: str) -> list[tuple[str, str]]:
    return [("system", TASKS[task]), ("user", text)]


def parse_list(reply: str) -> list[str]:
    """Items of a numbered or bulleted list; lines that are not list items are ignored."""
    items = []
    for line in reply.splitlines():
        match = _NUMBERED.match(line)
        if match and len(match["text"]) > 3:
            items.append(match["text"])
    return items


def parse_personas(reply: str) -> list[dict]:
    """Category → people proposals; anything that is not the asked-for JSON yields an empty list."""
    start, end = reply.find("["), reply.rfind("]")
    try:
        rows = json.loads(reply[start : end + 1]) if start >= 0 else []
    except json.JSONDecodeError:
        return []
    return [
        {"category": str(r["category"]), "people": [str(p) for p in r.get("people", [])]}
        for r in rows
        if isinstance(r, dict) and r.get("category")
    ]


def parse_candidate(reply: str) -> tuple[str | None, str | None]:
    """(user type, answer) of a candidate reply; the answer loses any sentence that names the user type."""
    user_type = re.search(r"User type:\s*(.+)", reply)
    answer = re.split(r"Answer:\s*", reply, maxsplit=1)
    if len(answer) < 2 or not answer[1].strip():
        return (user_type[1].strip() if user_type else None), None
    kind = user_type[1].strip().rstrip(".") if user_type else None
    return kind, clean_leak(answer[1].strip(), kind)


def clean_leak(answer: str, kind: str | None) -> str:
    """Drop sentences that name the user type the answer was written for (persona leakage)."""
    if not kind:
        return answer
    sentences = re.split(r"(?<=[.!?])\s+", answer)
    kept = [s for s in sentences if kind.lower() not in s.lower()]
    return " ".join(kept).strip()
