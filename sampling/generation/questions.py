"""Stages 2 and 3, questions: personal questions per person and divergent questions per axis, each list
de-duplicated (exact and near-duplicate). Usage: `python -m sampling.generation.questions --config <yaml>`."""

from __future__ import annotations

import math
import re
from collections import defaultdict

from famous_persona.llm.backend import Completion
from sampling.generation import prompts
from sampling.generation.config import Context, stage_command
from sampling.generation.dedup import deduplicate


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _ask(ctx: Context, task: str, subjects: dict[str, str], wanted: int) -> tuple[dict[str, list[str]], dict, dict]:
    """Ask for `wanted` questions per subject (subject id → prompt); returns the de-duplicated lists and counts."""
    per_request = ctx.config.questions_per_request
    n_requests = math.ceil(wanted / per_request)
    requests = [
        ctx.request("writer", f"{sid}#{i}", prompts.messages(task, text), sample=i)
        for sid, text in subjects.items()
        for i in range(n_requests)
    ]
    results = ctx.run("writer", requests, accept=_parsed)
    lists, left_out, counts = {}, {}, defaultdict(int)
    for sid in subjects:
        raw = []
        for i in range(n_requests):
            completion = results.completions.get(f"{sid}#{i}")
            if completion is not None and completion.usable:
                raw += prompts.parse_list(completion.text)
            else:
                counts["unusable_or_failed_requests"] += 1
        kept, exact, near = deduplicate(raw, ctx.config.near_duplicate)
        counts["exact_duplicates"] += exact
        counts["near_duplicates"] += near
        if kept:
            lists[sid] = kept[:wanted]
        else:
            left_out[sid] = "; ".join(results.failures.get(f"{sid}#{i}", "no usable list") for i in range(n_requests))
    return lists, left_out, dict(counts)


def personal(ctx: Context) -> None:
    if ctx.done("personal_questions"):
        return
    wanted = math.ceil(ctx.config.personal_target * ctx.config.overgenerate)
    n = ctx.config.questions_per_request
    subjects = {p.key: prompts.PERSONAL.format(name=p.name, n=n) for p in ctx.people()}
    names = {p.key: p.name for p in ctx.people()}
    lists, left_out, counts = _ask(ctx, "personal", subjects, wanted)
    rows = [
        {"qid": f"p:{key}:{i:03d}", "name": names[key], "axis": None, "question": q}
        for key, questions in lists.items()
        for i, q in enumerate(questions)
    ]
    ctx.finish("personal_questions", rows, left_out, **counts)


def axis_categories(ctx: Context) -> dict[str, list[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for person in ctx.people():
        for axis, category in person.axes.items():
            found[axis].add(category)
    return {axis: sorted(categories) for axis, categories in sorted(found.items())}


def divergent(ctx: Context) -> None:
    if ctx.done("divergent_questions"):
        return
    wanted = math.ceil(ctx.config.divergent_target * ctx.config.overgenerate)
    n = ctx.config.questions_per_request
    axes = axis_categories(ctx)
    subjects = {
        axis: prompts.DIVERGENT.format(axis=axis, categories=", ".join(cats), n=n) for axis, cats in axes.items()
    }
    lists, left_out, counts = _ask(ctx, "divergent", subjects, wanted)
    rows = [
        {"qid": f"d:{slug(axis)}:{i:03d}", "name": None, "axis": axis, "question": q}
        for axis, questions in lists.items()
        for i, q in enumerate(questions)
    ]
    ctx.finish("divergent_questions", rows, left_out, **counts)


def run(ctx: Context) -> None:
    personal(ctx)
    divergent(ctx)


def _parsed(reply: Completion) -> bool:
    """Only a complete reply that parses is a final cache entry; anything else is asked again by the next run."""
    return reply.usable and bool(prompts.parse_list(reply.text))


make_parser, main = stage_command("questions", run, __doc__)


if __name__ == "__main__":
    main()
