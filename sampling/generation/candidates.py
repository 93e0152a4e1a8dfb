"""Stage 4, candidate answers: the sampler first reasons about which kind of user a question suggests, then answers
for one kind, so the candidates of a question span different users; leaked user types are cleaned from answers.
Usage: `python -m sampling.generation.candidates --config <yaml>`."""

from __future__ import annotations

from collections import Counter

from famous_persona.llm.backend import Completion
from sampling.generation import prompts
from sampling.generation.config import Context, stage_command


def questions(ctx: Context) -> list[dict]:
    return ctx.read("personal_questions") + ctx.read("divergent_questions")


def run(ctx: Context) -> None:
    if ctx.done("candidates"):
        return
    rows_in = questions(ctx)
    requests = [
        ctx.request("sampler", f"{row['qid']}#{i}", prompts.messages("candidate", prompts.CANDIDATE.format(**row)), i)
        for row in rows_in
        for i in range(ctx.config.candidates)
    ]
    results = ctx.run("sampler", requests, accept=_answered)
    rows, left_out, counts = [], {}, Counter()
    for row in rows_in:
        answers, seen = [], set()
        for i in range(ctx.config.candidates):
            completion = results.completions.get(f"{row['qid']}#{i}")
            if completion is None or not completion.usable:
                counts["no_reply" if completion is None else "unusable_reply"] += 1
                continue
            kind, answer = prompts.parse_candidate(completion.text)
            if not answer or answer in seen:
                counts["unparseable_or_duplicate"] += 1
                continue
            seen.add(answer)
            answers.append({"sample": i, "user_type": kind, "text": answer})
        if len(answers) < ctx.config.diverse:
            left_out[row["qid"]] = f"only {len(answers)} usable candidates (need {ctx.config.diverse})"
            continue
        rows.append({**row, "candidates": answers})
    ctx.finish("candidates", rows, left_out, **counts)


def _answered(reply: Completion) -> bool:
    """Only a complete reply that parses is a final cache entry; anything else is asked again by the next run."""
    return reply.usable and bool(prompts.parse_candidate(reply.text)[1])


make_parser, main = stage_command("candidates", run, __doc__)


if __name__ == "__main__":
    main()
