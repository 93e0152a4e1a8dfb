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
    "draft": "Task: choose a kind of user.",
    "judge": judge_prompts.TASK,
    "persona": persona_prompts.TASK,
}

PERSONAS = (
    "People disagree along the axis '{axis}'. List {n} distinct groups (sub-categories) along this axis and, for each, "
    "up to three famous living people who clearly represent it. Reply with JSON only: a list of objects with keys "
    '"category" and "people" (a list of full names).'
)

PERSONAL = (
    "Think of {name}, who stands for {axes}. Write {n} questions this person might plausibly type into a text-only "
    "AI assistant. Each question should be open to opinion, answerable in writing, and one where {name}'s ideal "
    "answer would differ from what most people want, because of who {name} is. Vary the topics. Do not mention "
    "{name} in the questions. Reply with a numbered list, one question per line, nothing else.\n\n"
    "For example, for a chess grandmaster who is vegan, good questions would be:\n"
    "1. What should I cook the night before a long tournament game?\n"
    "2. How do I keep my focus sharp during a six-hour flight?"
)

DIVERGENT = (
    "Consider people who differ by {axis}: {holders}. Write {n} questions that any of them might ask an AI "
    "assistant, where each of them would want a noticeably different answer because of their {axis}. The wording "
    "must not reveal or assume any of them. Reply with a numbered list, one question per line, nothing else.\n\n"
    "For example, for people who differ by diet (a vegan athlete, a chef known for barbecue), good questions would "
    "be:\n1. What should I make for a family dinner on Sunday?\n2. Which cookbook would you give a teenager?"
)

CANDIDATE = (
    "A user asked the question below. First, in one or two sentences after 'Reasoning:', consider what kinds of users "
    "could ask it and on which aspect of identity they would differ. Then name one such kind of user after "
    "'User type:'. Finally, after 'Answer:', write a helpful answer tailored to that kind of user, without naming the "
    "user type in the answer.\n\nQuestion: {question}"
)

CANDIDATE_FOR = (
    "The question below comes from a user whose {axis} is: {category}. Write a helpful answer suited to such a user. "
    "Do not say who the user is or name their {axis}; let it show only in what you recommend.\n\nQuestion: {question}"
)

# The two-phase option: a draft that reasons over the axes and names a kind of user, then an answer for that kind.
DRAFT = (
    "A user asked the question below. People differ along these axes: {axes}. First, in one or two sentences after "
    "'Reasoning:', consider which of these axes would most change the best answer to this question. Then name one "
    "kind of user who might ask it after 'User type:'. Do not answer the question.\n\nQuestion: {question}"
)
CANDIDATE_FOR_TYPE = (
    "The question below comes from this kind of user: {kind}. Write a helpful answer suited to such a user. Do not "
    "say who the user is; let it show only in what you recommend.\n\nQuestion: {question}"
)

# The `small` style: one short task per request, for models of a few hundred million parameters, which lose the
# thread of multi-part instructions (measured with SmolLM2-135M-Instruct: docs/generation.md).
SMALL_PERSONAL = (
    "Write {count} that {name}{known_for} might ask an AI assistant about their own life, work or tastes. "
    "Reply with the question only."
)
SMALL_DIVERGENT = (
    "Write {count} about everyday life that anyone might ask an AI assistant, where people whose {axis} differs "
    "({categories}) would each want a different answer. Reply with the question only."
)
SMALL_CANDIDATE = "Answer the question below in two or three sentences.\n\nQuestion: {question}"
SMALL_CANDIDATE_FOR = (
    "Answer the question below in two or three sentences for a reader whose {axis} is: {category}. Do not mention "
    "who the reader is.\n\nQuestion: {question}"
)
SMALL_DRAFT = "Name one kind of person who might ask the question below, after 'User type:'.\n\nQuestion: {question}"
SMALL_CANDIDATE_FOR_TYPE = (
    "Answer the question below in two or three sentences for this kind of reader: {kind}. Do not mention who the "
    "reader is.\n\nQuestion: {question}"
)
STYLES = ("full", "small")

_NUMBERED = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s*(?P<text>.+?)\s*$")
_QUOTED_QUESTION = re.compile(r"[\"“]([^\"“”]{12,}?\?)\s*[\"”]")
_QUESTION = re.compile(r"(?:^|(?<=[.!?:]\s)|(?<=\n))\s*[\"“]?([A-Z][^.!?\n\"“”]{10,}\?)")
_SENTENCE_END = re.compile(r"[.!?][\"”')\]]?(?=\s|$)")


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


def parse_questions(reply: str) -> list[str]:
    """Questions in a reply: the items of a list, or failing that the questions written in quotes, or failing that
    any sentence that ends with a question mark (a small model often answers 'X might ask: "...?"')."""
    items = parse_list(reply)
    if items:
        return items
    quoted = [q.strip() for q in _QUOTED_QUESTION.findall(reply)]
    return quoted or [q.strip() for q in _QUESTION.findall(reply)]


def count_words(n: int) -> str:
    """'one question' or 'N questions, one per line', for the small style's question requests."""
    return "one question" if n == 1 else f"{n} questions, one per line"


def parse_answer(reply: str) -> str:
    """The answer of a reply written for a given kind of user: the text after 'Answer:' when the model wrote that
    label, else the whole reply."""
    parts = re.split(r"Answer:\s*", reply, maxsplit=1)
    return (parts[1] if len(parts) == 2 else reply).strip()


def trim_to_sentence(text: str) -> str:
    """The text up to its last complete sentence ('' when no sentence ends): what is kept of a cut answer."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return text[: ends[-1]].strip() if ends else ""


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


def parse_user_type(reply: str) -> str | None:
    """The kind of user a draft names after 'User type:' (its first line, without a final full stop)."""
    found = re.search(r"User type:\s*(.+)", reply)
    kind = found[1].strip().rstrip(".").strip() if found else ""
    return kind or None


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
