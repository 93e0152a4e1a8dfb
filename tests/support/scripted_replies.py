"""Deterministic replies of the scripted server, one per pipeline task, varied by the request's seed. Question lists
carry an exact and a near duplicate so de-duplication has work; candidate answers name their user type once so the
leakage cleaner has work; verdicts follow a fixed per-person taste, so both orders of a comparison agree."""

from __future__ import annotations

import hashlib
import json
import re

from sampling.generation.prompts import TASKS

TOPICS = (
    "weekend plans",
    "a birthday gift",
    "a workout routine",
    "a dinner menu",
    "a book to read",
    "a trip abroad",
    "a podcast",
    "saving money",
    "a morning routine",
    "a charity to support",
    "learning a language",
    "a new hobby",
    "moving house",
    "a job offer",
    "a hard conversation",
    "a film night",
    "a garden",
    "a holiday tradition",
    "a speech",
    "a wardrobe",
    "a car purchase",
    "a news source",
    "a volunteering plan",
    "a meditation habit",
)
FRAMES = (
    "How should I think about {topic} this year?",
    "What would you suggest for {topic} given my values?",
    "Can you help me decide on {topic} for next month?",
    "What matters most when choosing {topic}?",
    "Give me three ideas for {topic} that fit my life.",
)
USER_TYPES = ("a retired teacher", "a busy parent", "a young athlete", "a devout believer", "a startup founder")
TASK_OF = {text: task for task, text in TASKS.items()}


def _h(*parts: object) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:12], 16)


def _questions(subject: str, seed: int, n: int) -> str:
    items = []
    for j in range(n - 2):
        k = _h(subject, seed, j)
        frame, topic = FRAMES[k % len(FRAMES)], TOPICS[(k // 7) % len(TOPICS)]
        items.append(f"{frame.format(topic=topic)} (thinking of {subject}, variant {seed}.{j})")
    items += [items[0], items[1].replace("?", " please?")]
    return "\n".join(f"{i + 1}. {q}" for i, q in enumerate(items))


def _candidate(question: str, seed: int) -> str:
    kind = USER_TYPES[_h(question, seed) % len(USER_TYPES)]
    detail = _h("detail", question, seed) % 997
    return (
        f"Reasoning: the question could come from many people; habits and values would shape the answer.\n"
        f"User type: {kind}\n"
        f"Answer: Start small and keep a note of what works, option {detail}. "
        f"As {kind}, you will like this. Review it after a week and adjust step {seed}."
    )


def _judge(text: str) -> str:
    copy = re.search(
        r"^(.+?)(?: \(.*\))? asked: .*\n\nFirst answer: (.*)\nSecond answer: (.*)\n\nWhich answer", text, re.S
    )
    if copy:
        name, first, second = copy[1], copy[2], copy[3]
        return f"The answer that suits {name}: {first if _h(name, first) > _h(name, second) else second}"
    short = re.search(r"Answer A: (.*)\nAnswer B: (.*)\n(.+?)(?: \(.*\))? asked this question", text)
    if short:
        first, second, name = short[1], short[2], short[3]
        return "AB"[_h(name, first) < _h(name, second)]
    batch = re.search(r"preferences of ([^.]+)\. Below are", text)
    if batch:
        return _batch_judge(batch[1], text)
    name = re.findall(r"preferences of (.+?)\. Read", text)[-1]
    answers = re.search(r"Answer 1:\n(.*)\n\nAnswer 2:\n(.*)", text, re.S)
    first, second = answers[1], answers[2]
    better = 1 if _h(name, first) > _h(name, second) else 2
    return f"{name} values concrete, practical advice; one answer fits better.\nPreferred: {better}"


def _batch_judge(name: str, text: str) -> str:
    """One verdict line per comparison of a batched request, by the same rule as a single comparison."""
    found = re.findall(r"Comparison (\d+)\.\nQuestion: .*\nAnswer 1:\n(.*)\nAnswer 2:\n(.*)", text)
    lines = [f"Comparison {i}: Preferred: {1 if _h(name, a) > _h(name, b) else 2}" for i, a, b in found]
    return f"{name} values concrete, practical advice.\n" + "\n".join(lines)


def _small_question(text: str, seed: int) -> str:
    """One question, the way a small model writes it: introduced by a phrase, in quotes."""
    subject = re.search(r"that (.+?)(?: \(.*?\))? might ask|whose (.+?) differs", text)
    who = subject[1] or subject[2]
    k = _h(who, seed)
    question = FRAMES[k % len(FRAMES)].format(topic=TOPICS[(k // 7) % len(TOPICS)])
    return f'Someone like {who} might ask: "{question[:-1]} (variant {seed})?"'


def _persona(text: str, seed: int) -> str:
    """Two paragraphs that depend on what the request showed: the name, or the first question and the shot count."""
    name = re.search(r"Describe the user (.+?) as an assistant", text)
    questions = re.findall(r"Question: (.+)", text)
    if name:
        who = f"{name[1]} is a public figure with settled habits and firm opinions."
    else:
        first = " ".join(questions[0].split()[:6]) if questions else "nothing in particular"
        who = f"This user asked {len(questions)} questions, starting with '{first}'."
    return f"{who}\n\nThey want direct, practical answers that respect their views (draw {seed % 1000})."


def reply_for(body: dict) -> tuple[str | None, str]:
    """(task, reply text) for a chat request, or (None, '') when it is not one of the pipeline's tasks."""
    messages = body.get("messages", [])
    if len(messages) < 2:
        return None, ""
    task, text, seed = TASK_OF.get(messages[0].get("content")), messages[-1].get("content", ""), body.get("seed", 0)
    if task in ("personal", "divergent") and text.startswith("Write one question"):
        return task, _small_question(text, seed)
    if task == "personal":
        return task, _questions(re.search(r"Think of (.+?), who stands for", text)[1], seed, 20)
    if task == "divergent":
        return task, _questions(re.search(r"differ by (.+?): ", text)[1], seed, 20)
    if task == "draft":
        question = text.rsplit("Question: ", 1)[-1]
        kind = USER_TYPES[_h(question, seed) % len(USER_TYPES)]
        return task, f"Reasoning: habits would change the best answer most.\nUser type: {kind}"
    if task == "candidate":
        return task, _candidate(text.rsplit("Question: ", 1)[-1], seed)
    if task == "judge":
        return task, _judge(text)
    if task == "persona":
        return task, _persona(text, seed)
    if task == "personas":
        axis = re.search(r"axis '(.+?)'", text)[1]
        return task, json.dumps([{"category": f"{axis} group {i}", "people": [f"Person {i}"]} for i in range(3)])
    return None, ""
