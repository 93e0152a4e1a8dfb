"""Stage 4, candidate answers. For a personal question the sampler first reasons about which kind of user the question
suggests, then answers for one kind, so the candidates span different users. For a divergent question (with
`divergent_candidates: categories`, the default) candidate i is written for category i mod k of the k categories the
people on the question's axis hold, so every one of them is covered once there are at least k candidates; each
candidate records its category (or the user type it named) and its seed. Leaked user types are cleaned from answers.
With `two_phase_candidates`, an open candidate is asked in two requests, as the original did: a draft that reasons over
the axes and names a kind of user, then an answer written for that kind.
Usage: `python -m sampling.generation.candidates --config <yaml>`."""

from __future__ import annotations

from collections import Counter

from famous_persona.errors import DataError
from famous_persona.llm.backend import Completion, Request
from sampling.generation import prompts, replies
from sampling.generation.questions import axis_categories
from sampling.generation.runtime import Context, stage_command


def questions(ctx: Context) -> list[dict]:
    return ctx.read("personal_questions") + ctx.read("divergent_questions")


def category_of(ctx: Context, row: dict, sample: int, categories: dict[str, list[str]]) -> str | None:
    """The category candidate `sample` of a question is written for; None where the sampler picks a user type."""
    if row["axis"] is None or ctx.config.divergent_candidates == "open":
        return None
    held = categories[row["axis"]]
    return held[sample % len(held)]


def request_text(ctx: Context, row: dict, category: str | None, kind: str | None = None) -> str:
    """The sampler's request: for a given category, for a drafted kind of user, or the open format, in the config's
    prompt style."""
    small = ctx.config.prompt_style == "small"
    if kind is not None:
        template = prompts.SMALL_CANDIDATE_FOR_TYPE if small else prompts.CANDIDATE_FOR_TYPE
        return template.format(kind=kind, question=row["question"])
    if category is not None:
        template = prompts.SMALL_CANDIDATE_FOR if small else prompts.CANDIDATE_FOR
        return template.format(axis=row["axis"], category=category, question=row["question"])
    return (prompts.SMALL_CANDIDATE if small else prompts.CANDIDATE).format(question=row["question"])


def check_coverage(ctx: Context, categories: dict[str, list[str]]) -> None:
    """Refuse a run whose candidates per question cannot cover every category of an axis."""
    if ctx.config.divergent_candidates != "categories":
        return
    short = {axis: len(held) for axis, held in categories.items() if len(held) > ctx.config.candidates}
    if short:
        raise DataError(
            f"candidates ({ctx.config.candidates}) is below the number of categories on {short}: every category "
            "of an axis gets a candidate, so raise candidates or set divergent_candidates: open"
        )


def drafts(ctx: Context, open_rids: dict[str, dict], categories: dict[str, list[str]]) -> dict[str, Completion]:
    """Phase one of the two-phase option: per open candidate, a draft that names a kind of user (rid → reply)."""
    axes = "; ".join(f"{axis} ({', '.join(held)})" for axis, held in categories.items())
    small = ctx.config.prompt_style == "small"
    requests = []
    for rid, row in open_rids.items():
        text = (prompts.SMALL_DRAFT if small else prompts.DRAFT).format(axes=axes, question=row["question"])
        sample = int(rid.rsplit("#", 1)[1])
        requests.append(ctx.request("sampler", f"{rid}:draft", prompts.messages("draft", text), sample))
    found = ctx.run("sampler", requests, check=replies.draft_problem).completions
    return {rid: found[f"{rid}:draft"] for rid in open_rids if f"{rid}:draft" in found}


def run(ctx: Context) -> None:
    if ctx.done("candidates"):
        return
    rows_in = questions(ctx)
    categories = axis_categories(ctx)
    check_coverage(ctx, categories)
    plan = {f"{row['qid']}#{i}": category_of(ctx, row, i, categories) for row in rows_in for i in _samples(ctx)}
    by_rid = {f"{row['qid']}#{i}": row for row in rows_in for i in _samples(ctx)}
    open_type = ctx.config.prompt_style == "full" and not ctx.config.two_phase_candidates
    kinds = _drafted_kinds(ctx, by_rid, plan, categories)
    undrafted = {rid for rid in by_rid if plan[rid] is None and ctx.config.two_phase_candidates} - set(kinds)
    groups: dict[bool, list[Request]] = {True: [], False: []}
    for rid, row in by_rid.items():
        if rid in undrafted:
            continue
        messages = prompts.messages("candidate", request_text(ctx, row, plan[rid], kinds.get(rid)))
        groups[open_type and plan[rid] is None].append(ctx.request("sampler", rid, messages, _sample(rid)))
    completions = {}
    for is_open, requests in groups.items():
        if requests:
            check = replies.candidate_check(open_type=is_open)
            completions |= ctx.run("sampler", requests, check=check).completions
    rows, left_out, counts, uncovered = [], {}, Counter(), {}
    for row in rows_in:
        answers, seen = [], set()
        for i in _samples(ctx):
            rid = f"{row['qid']}#{i}"
            completion = completions.get(rid)
            if completion is None:
                counts["no_draft" if rid in undrafted else "no_reply"] += 1
                continue
            kind, text = _parsed(completion, kinds.get(rid, plan[rid]), open_type and plan[rid] is None)
            if not text or text in seen:
                counts["unusable_or_duplicate"] += 1
                continue
            seen.add(text)
            answers.append(_candidate(i, kind, plan[rid], text, completion.seed))
        missing = _uncovered(row, answers, categories, ctx)
        if missing:
            uncovered[row["qid"]] = missing
        if len(answers) < ctx.config.diverse:
            left_out[row["qid"]] = f"only {len(answers)} usable candidates (need {ctx.config.diverse})"
            continue
        rows.append({**row, "candidates": answers})
    ctx.finish("candidates", rows, left_out, uncovered_categories=uncovered, **counts)


def _samples(ctx: Context) -> range:
    return range(ctx.config.candidates)


def _sample(rid: str) -> int:
    return int(rid.rsplit("#", 1)[1])


def _drafted_kinds(
    ctx: Context, by_rid: dict[str, dict], plan: dict[str, str | None], categories: dict[str, list[str]]
) -> dict[str, str]:
    """rid → the kind of user its draft named (two-phase option only; a draft that named none is left out)."""
    if not ctx.config.two_phase_candidates:
        return {}
    found = drafts(ctx, {rid: row for rid, row in by_rid.items() if plan[rid] is None}, categories)
    return {rid: kind for rid, c in found.items() if (kind := prompts.parse_user_type(c.text))}


def _parsed(completion, category: str | None, open_type: bool) -> tuple[str | None, str]:
    """(user type or category, answer) of one candidate reply."""
    if open_type:
        kind = prompts.parse_candidate(completion.text)[0]
        return kind, replies.answer(completion, kind, open_type=True)
    return category, replies.answer(completion, category, open_type=False)


def _candidate(sample: int, kind: str | None, category: str | None, text: str, seed: int | None) -> dict:
    found = {"sample": sample, "user_type": kind, "text": text, "seed": seed}
    return found | ({"category": category} if category is not None else {})


def _uncovered(row: dict, answers: list[dict], categories: dict[str, list[str]], ctx: Context) -> list[str]:
    """Categories of a divergent question's axis that none of its usable candidates was written for."""
    if row["axis"] is None or ctx.config.divergent_candidates != "categories":
        return []
    covered = {a.get("category") for a in answers}
    return [c for c in categories[row["axis"]] if c not in covered]


make_parser, main = stage_command("candidates", run, __doc__)


if __name__ == "__main__":
    main()
