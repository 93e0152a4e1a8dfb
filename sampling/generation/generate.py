"""Regenerate the dataset (docs/design.md §7): every stage in order, each skipped when its output exists, all requests
through one on-disk cache, so the same command after a crash resumes where it stopped. `--dry_run true` prints the
token and cost estimate and sends nothing. Usage: `python -m sampling.generation.generate --config <yaml>
[--out DIR]`."""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from typing import Any

from trl import TrlParser

from famous_persona import judge_prompts
from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import exit_on_data_error
from famous_persona.io import read_json
from famous_persona.llm.cost import Estimate, count_tokens, format_estimates
from famous_persona.manifest import write_manifest
from sampling.generation import candidates, filtering, judge, personas, prompts, questions, split, timing
from sampling.generation.config import GenerateConfig, record, warn_flat
from sampling.generation.runtime import Context, describe_replies

STAGES = {
    "personas": personas.run,
    "questions": questions.run,
    "candidates": candidates.run,
    "filter": filtering.run,
    "judge": judge.run,
    "split": split.run,
}
# The stages' outputs in the order they are made: the order of the run's account.
OUTPUTS = (
    "persona_proposals",
    "personal_questions",
    "divergent_questions",
    "candidates",
    "filtered",
    "judged",
    "split",
)
TYPICAL_QUESTION = "What would be a good way for me to spend a free weekend afternoon with the people I care about?"
TYPICAL_ANSWER_TOKENS = 300
QUESTION_TOKENS = 30
JUDGE_OUTPUT_TOKENS = 250


def estimate(config: GenerateConfig) -> list[Estimate]:
    """Requests each stage will send for a full run (first asks only; re-asks of ties are extra)."""
    ctx = Context(config, "dry-run")
    people = ctx.people()
    axes = questions.axis_categories(ctx)
    per_request = config.questions_per_request
    personal_n = math.ceil(config.personal_target * config.overgenerate)
    divergent_n = math.ceil(config.divergent_target * config.overgenerate)
    personal_req = len(people) * math.ceil(personal_n / per_request)
    divergent_req = len(axes) * math.ceil(divergent_n / per_request)
    personal_prompt = count_tokens(
        prompts.messages("personal", prompts.PERSONAL.format(name="Jane Doe", n=20, axes="a: b; c: d"))
    )
    divergent_prompt = count_tokens(
        prompts.messages("divergent", prompts.DIVERGENT.format(axis="diet", holders="a (A, B); b (C); c (D)", n=20))
    )
    n_questions = len(people) * personal_n + len(axes) * divergent_n
    candidate_prompt = count_tokens(prompts.messages("candidate", prompts.CANDIDATE.format(question=TYPICAL_QUESTION)))
    answer = " ".join(["word"] * TYPICAL_ANSWER_TOKENS)
    judge_text = judge_prompts.request("Jane Doe", TYPICAL_QUESTION, answer, answer)
    judge_prompt = count_tokens(judge_prompts.messages(judge_text))
    on_axis: dict[str, int] = defaultdict(int)
    for person in people:
        for axis in person.axes:
            on_axis[axis] += 1
    tournaments = len(people) * personal_n + sum(on_axis.values()) * divergent_n
    judge_req = tournaments * 3 * 2
    sampler_req = n_questions * config.candidates
    judge_out = min(JUDGE_OUTPUT_TOKENS, config.roles["judge"].max_tokens)
    return [
        Estimate(
            "personal",
            config.roles["writer"].model,
            personal_req,
            personal_req * personal_prompt,
            personal_req * per_request * QUESTION_TOKENS,
        ),
        Estimate(
            "divergent",
            config.roles["writer"].model,
            divergent_req,
            divergent_req * divergent_prompt,
            divergent_req * per_request * QUESTION_TOKENS,
        ),
        Estimate(
            "candidates",
            config.roles["sampler"].model,
            sampler_req,
            sampler_req * candidate_prompt,
            sampler_req * config.roles["sampler"].max_tokens,
        ),
        Estimate("judge", config.roles["judge"].model, judge_req, judge_req * judge_prompt, judge_req * judge_out),
    ]


def generate(config: GenerateConfig) -> dict[str, Any]:
    """Run the stages; returns the run's account (`account`). A run with holes (lost requests, people without pairs
    or below the target) is recorded as status 'partial', never 'finished'."""
    ctx = Context(config, "generate")
    previous = read_json(ctx.out / "manifest.json") if (ctx.out / "manifest.json").is_file() else {}
    write_manifest(
        ctx.out / "manifest.json",
        "sampling.generation.generate",
        record(config),
        status="running",
        generation=previous.get("generation", {}),
    )
    for name, run in STAGES.items():
        if not config.stages or name in config.stages:
            run(Context(config, name))
    steps = read_json(ctx.out / "manifest.json").get("generation", {})
    found = account(steps, config, len(ctx.people()))
    write_manifest(
        ctx.out / "manifest.json",
        "sampling.generation.generate",
        record(config),
        status="partial" if holes(found) else "finished",
        generation=steps,
        account=found,
    )
    return found


def account(steps: dict[str, dict], config: GenerateConfig, people: int) -> dict[str, Any]:
    """What the run made and what it lacks: replies per stage (usable, and why not), requests lost per stage and
    person, people below the target or without pairs, and pairs made against the target."""
    split = steps.get("split", {})
    ordered = sorted(steps.items(), key=lambda item: OUTPUTS.index(item[0]) if item[0] in OUTPUTS else len(OUTPUTS))
    return {
        "replies": {stage: step["replies"] for stage, step in ordered if step.get("replies", {}).get("asked")},
        "rows": {stage: [step.get("rows", 0), step.get("left_out", 0)] for stage, step in ordered},
        "judge": {key: steps.get("judged", {}).get(key, 0) for key in ("tournaments", "tie", "unparseable")},
        "lost": {stage: step["lost_by_subject"] for stage, step in ordered if step.get("lost")},
        "short": split.get("short", {}),
        "missing": split.get("missing", []),
        "pairs": split.get("pairs"),
        "target": people * (config.personal_target + config.divergent_target),
    }


def holes(found: dict[str, Any]) -> bool:
    return bool(found["lost"] or found["short"] or found["missing"])


def report_account(found: dict[str, Any]) -> None:
    """The account of a run with holes on stderr: every stage's replies, then what was lost and who is short."""
    for stage, (rows, left_out) in found["rows"].items():
        replies = found["replies"].get(stage)
        said = f"; replies {describe_replies(replies)}" if replies else ""
        print(f"{stage}: {rows} rows, {left_out} left out{said}", file=sys.stderr)
    judge = found["judge"]
    if judge["tournaments"]:
        print(
            f"judged: {judge['tournaments']} knockouts; {judge['tie']} comparisons tied (the two orders disagreed), "
            f"{judge['unparseable']} verdicts unreadable",
            file=sys.stderr,
        )
    report_lost(found["lost"])
    for name in found["missing"]:
        print(f"split: {name} has no pairs", file=sys.stderr)
    for name, gaps in found["short"].items():
        print(f"split: {name} is below the target: {gaps}", file=sys.stderr)
    if found["pairs"] is not None:
        print(f"pairs: {found['pairs']} of the target {found['target']}", file=sys.stderr)


def report_lost(lost: dict[str, dict[str, int]]) -> None:
    """One line per stage that lost requests, counted per person (or axis)."""
    for stage, by_subject in lost.items():
        counts = ", ".join(f"{who}: {n}" for who, n in sorted(by_subject.items()))
        print(f"{stage}: {sum(by_subject.values())} requests lost ({counts})", file=sys.stderr)


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("generate", [GenerateConfig], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (config,) = parse_config(parser or make_parser(), args)
    warn_flat(args)
    if config.dry_run:
        estimates = estimate(config)
        print(format_estimates(estimates))
        if config.probe:
            print("\n".join(timing.estimate_time(config, estimates)))
        return
    found = generate(config)
    if not holes(found):
        print(f"dataset written to {config.out}: {found['pairs']} pairs")
        return
    report_account(found)
    again = (
        "the same command asks the lost requests again, each unusable reply with a new seed"
        if found["lost"]
        else "nothing was lost: more questions (overgenerate, questions_per_request) or candidates would fill it"
    )
    print(f"incomplete dataset in {config.out}: {again}", file=sys.stderr)
    if not config.allow_partial:
        raise SystemExit(3)


if __name__ == "__main__":
    main()
