"""Stage 1, personas: write the dataset's personas.jsonl from the curated people table; with `--propose_personas
true` the writer model also proposes categories and representative people per axis (work/persona_proposals.jsonl),
a starting point for extending the table by hand.
Usage: `python -m sampling.generation.personas --config experiments/configs/generate/full.yaml`."""

from __future__ import annotations

from famous_persona.errors import DataError
from famous_persona.io import DatasetDir, write_jsonl
from famous_persona.llm.backend import Completion
from sampling.generation import prompts
from sampling.generation.runtime import Context, stage_command

AXES = (
    "sports",
    "diet",
    "politics",
    "religion",
    "age",
    "profession",
    "geographical location",
    "gender",
    "education level",
    "AI professors",
    "family/marriage status",
)


def run(ctx: Context) -> None:
    people = ctx.people()
    if not people:
        raise DataError(f"{ctx.config.people_table}: the table has no people")
    write_jsonl(DatasetDir(ctx.out).personas_path, people)
    if ctx.done("persona_proposals") or not ctx.config.propose_personas:
        return
    requests = [
        ctx.request("writer", axis, prompts.messages("personas", prompts.PERSONAS.format(axis=axis, n=5)))
        for axis in AXES
    ]
    results = ctx.run("writer", requests, accept=_parsed)
    rows, left_out = [], dict(results.failures)
    for axis in AXES:
        completion = results.completions.get(axis)
        proposals = prompts.parse_personas(completion.text) if completion else []
        if completion and not proposals:
            left_out[axis] = "reply was not the asked-for JSON list"
        rows += [{"axis": axis, **proposal} for proposal in proposals]
    ctx.finish("persona_proposals", rows, left_out)


def _parsed(reply: Completion) -> bool:
    """Only a complete reply that parses is a final cache entry; anything else is asked again by the next run."""
    return reply.usable and bool(prompts.parse_personas(reply.text))


make_parser, main = stage_command("personas", run, __doc__)


if __name__ == "__main__":
    main()
