"""Stages 2 and 3, questions: personal questions per person and divergent questions per axis, each list
de-duplicated (exact and near-duplicate). Usage: `python -m sampling.generation.questions --config <yaml>`."""

from __future__ import annotations

import math
import re
from collections import defaultdict

from famous_persona.llm.cache import Results
from famous_persona.schema import Persona
from sampling.generation import prompts, replies
from sampling.generation.dedup import deduplicate
from sampling.generation.runtime import Context, stage_command


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
    results = ctx.run("writer", requests, check=replies.question_problem)
    lists, left_out, counts = {}, {}, defaultdict(int)
    for sid in subjects:
        raw = []
        for i in range(n_requests):
            completion = results.completions.get(f"{sid}#{i}")
            found = replies.questions(completion) if completion is not None else []
            raw += found
            counts["unusable_or_failed_requests"] += not found
        kept, exact, near = deduplicate(raw, ctx.config.near_duplicate)
        counts["exact_duplicates"] += exact
        counts["near_duplicates"] += near
        if kept:
            lists[sid] = kept[:wanted]
        else:
            left_out[sid] = "; ".join(_why(results, f"{sid}#{i}") for i in range(n_requests))
    return lists, left_out, dict(counts)


def _why(results: Results, rid: str) -> str:
    """Why one request gave no question, for the stage's left-out list."""
    return results.failures.get(rid) or results.problems.get(rid) or "only duplicates"


def personal_request(ctx: Context, person: Persona) -> str:
    """The personal-question request for one person, in the config's prompt style."""
    n = ctx.config.questions_per_request
    if ctx.config.prompt_style == "small":
        count = prompts.count_words(n)
        return prompts.SMALL_PERSONAL.format(count=count, name=person.name, known_for=known_for(person))
    return prompts.PERSONAL.format(name=person.name, n=n, axes=stands_for(person))


def stands_for(person: Persona) -> str:
    """'sports: tennis; diet: vegan': the categories a person stands for in the table."""
    return "; ".join(f"{axis}: {category}" for axis, category in person.axes.items()) or "no listed axis"


def known_for(person: Persona) -> str:
    """' (sports: tennis; diet: vegan)': the categories a person stands for in the table, '' when none."""
    return f" ({stands_for(person)})" if person.axes else ""


def personal(ctx: Context) -> None:
    if ctx.done("personal_questions"):
        return
    wanted = math.ceil(ctx.config.personal_target * ctx.config.overgenerate)
    subjects = {p.key: personal_request(ctx, p) for p in ctx.people()}
    names = {p.key: p.name for p in ctx.people()}
    lists, left_out, counts = _ask(ctx, "personal", subjects, wanted)
    rows = [
        {"qid": f"p:{key}:{i:03d}", "name": names[key], "axis": None, "question": q}
        for key, questions in lists.items()
        for i, q in enumerate(questions)
    ]
    ctx.finish("personal_questions", rows, left_out, **counts)


def axis_categories(ctx: Context) -> dict[str, list[str]]:
    return {axis: sorted(holders) for axis, holders in axis_holders(ctx).items()}


def axis_holders(ctx: Context) -> dict[str, dict[str, list[str]]]:
    """axis → category → the run's people who hold it: whom the divergent questions of an axis are written for."""
    found: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for person in ctx.people():
        for axis, category in person.axes.items():
            found[axis][category].append(person.name)
    return {axis: dict(sorted(held.items())) for axis, held in sorted(found.items())}


def divergent(ctx: Context) -> None:
    if ctx.done("divergent_questions"):
        return
    wanted = math.ceil(ctx.config.divergent_target * ctx.config.overgenerate)
    subjects = {axis: divergent_request(ctx, axis, held) for axis, held in axis_holders(ctx).items()}
    lists, left_out, counts = _ask(ctx, "divergent", subjects, wanted)
    rows = [
        {"qid": f"d:{slug(axis)}:{i:03d}", "name": None, "axis": axis, "question": q}
        for axis, questions in lists.items()
        for i, q in enumerate(questions)
    ]
    ctx.finish("divergent_questions", rows, left_out, **counts)


def divergent_request(ctx: Context, axis: str, held: dict[str, list[str]]) -> str:
    """The divergent-question request for one axis, in the config's prompt style; the full style names the people
    on the axis with their categories, as the original's requests did."""
    n = ctx.config.questions_per_request
    if ctx.config.prompt_style == "small":
        return prompts.SMALL_DIVERGENT.format(count=prompts.count_words(n), axis=axis, categories=", ".join(held))
    holders = "; ".join(f"{category} ({', '.join(names)})" for category, names in held.items())
    return prompts.DIVERGENT.format(axis=axis, holders=holders, n=n)


def run(ctx: Context) -> None:
    personal(ctx)
    divergent(ctx)


make_parser, main = stage_command("questions", run, __doc__)


if __name__ == "__main__":
    main()
