"""Stage 6, the persona judge: a knockout over the picked candidates (for 4: two semi-finals and a final) where the
judge model, reasoning first, predicts which answer the named person prefers. Every comparison is asked in both orders;
a disagreement (position bias) is a tie, and ties and unparseable replies are re-asked up to `judge_attempts` times,
never settled by a coin. Chosen = the winner, rejected = a seeded random non-winner; the judge's raw text goes into
`meta`. Usage: `python -m sampling.generation.judge --config <yaml>`."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from famous_persona import judge_prompts
from famous_persona.llm.backend import Completion, Request
from famous_persona.llm.cache import Results
from sampling.generation import replies
from sampling.generation.questions import known_for
from sampling.generation.runtime import Context, stage_command


@dataclass
class Match:
    """One comparison of candidates a and b for one person and question."""

    tid: str
    name: str
    question: str
    a: dict
    b: dict
    round: int
    winner: dict | None = None
    trace: list[dict] = field(default_factory=list)
    problems: Counter = field(default_factory=Counter)
    picks: dict[str, int] = field(default_factory=dict)

    def request_id(self, order: str, attempt: int) -> str:
        return f"{self.tid}|r{self.round}|{self.a['sample']}v{self.b['sample']}|{order}|{attempt}"


BATCH = "batch|"  # the request id of a batch: this, then its members' ids joined by '+'


@dataclass
class Ask:
    """One judge request and the (match, order) comparisons it carries: one, or a batch of one person's."""

    request: Request
    members: list[tuple[Match, str]]

    @property
    def batched(self) -> bool:
        return self.request.id.startswith(BATCH)


def _shown(match: Match, order: str) -> tuple[dict, dict]:
    return (match.a, match.b) if order == "ab" else (match.b, match.a)


def _asks(ctx: Context, matches: list[Match], attempt: int, known: dict[str, str]) -> list[Ask]:
    """The requests of one attempt: each comparison in both orders, alone or batched per person (`judge_batch`)."""
    extra = {"temperature": 1.0} if attempt else {}
    if ctx.config.judge_batch == 1:
        return [_one(ctx, m, o, attempt, known, extra) for m in matches for o in ("ab", "ba")]
    by_person: dict[str, list[Match]] = {}
    for match in sorted(matches, key=lambda m: (m.name, m.tid, m.round)):
        by_person.setdefault(match.name, []).append(match)
    asks, size = [], ctx.config.judge_batch
    for name, mine in by_person.items():
        for start in range(0, len(mine), size):
            chunk = mine[start : start + size]
            for order in ("ab", "ba"):
                rid = f"{BATCH}{'+'.join(m.request_id(order, attempt) for m in chunk)}"
                shown = [(m.question, *(c["text"] for c in _shown(m, order))) for m in chunk]
                text = judge_prompts.batch_request(name, shown, ctx.config.judge_examples)
                request = ctx.request("judge", rid, judge_prompts.messages(text), attempt, **extra)
                asks.append(Ask(request, [(m, order) for m in chunk]))
    return asks


def _one(ctx: Context, match: Match, order: str, attempt: int, known: dict[str, str], extra: dict) -> Ask:
    """The request of one comparison in one order."""
    first, second = (c["text"] for c in _shown(match, order))
    messages = judge_prompts.messages(request_text(ctx, match, first, second, known))
    return Ask(ctx.request("judge", match.request_id(order, attempt), messages, attempt, **extra), [(match, order)])


def request_text(ctx: Context, match: Match, first: str, second: str, known: dict[str, str]) -> str:
    """The judge's request in the config's judge format (letter and copy also say what the person is known for)."""
    shown = known.get(match.name, "")
    if ctx.config.judge_format == "letter":
        return judge_prompts.short_request(match.name, match.question, first, second, shown)
    if ctx.config.judge_format == "copy":
        return judge_prompts.copy_request(match.name, match.question, first, second, shown)
    return judge_prompts.request(match.name, match.question, first, second, ctx.config.judge_examples)


def _verdicts(ask: Ask, completion: Completion | None, judge_format: str) -> list[int | None]:
    """The verdict of each comparison an ask carries (None where its reply names none)."""
    if completion is None or not completion.text.strip():
        return [None] * len(ask.members)
    if ask.batched:
        return judge_prompts.parse_batch(completion.text, len(ask.members))
    match, order = ask.members[0]
    return [replies.verdict(completion, judge_format, *(c["text"] for c in _shown(match, order)))]


def _record(ask: Ask, results: Results, attempt: int, judge_format: str) -> None:
    """Note each comparison's verdict in its match's trace (a batch's reply, with its request id, in each)."""
    rid = ask.request.id
    completion = None if rid in results.rejected else results.completions.get(rid)
    for (match, order), verdict in zip(ask.members, _verdicts(ask, completion, judge_format), strict=True):
        match.trace.append(
            {
                "round": match.round,
                "order": order,
                "attempt": attempt,
                "verdict": verdict,
                "text": completion.text if completion else None,
                "request": rid if ask.batched else None,
                "seed": completion.seed if completion else None,
                "failure": results.failures.get(rid),
            }
        )
        if completion is None:
            match.problems["request_failed"] += 1
        elif verdict is None:
            match.problems["unparseable"] += 1
        else:
            match.picks[order] = _shown(match, order)[verdict - 1]["sample"]


def _settle(match: Match) -> None:
    """A winner only when both orders' verdicts of this attempt are readable and agree."""
    picks, match.picks = match.picks, {}
    if len(picks) == 2 and picks["ab"] == picks["ba"]:
        match.winner = match.a if picks["ab"] == match.a["sample"] else match.b
    elif len(picks) == 2:
        match.problems["tie"] += 1


def play(ctx: Context, matches: list[Match]) -> None:
    """Ask every open match, again and again, until it has a winner or its attempts are spent."""
    judge_format = ctx.config.judge_format
    known = {p.name: known_for(p) for p in ctx.people()}
    check, accept = _checks(ctx)
    for attempt in range(ctx.config.judge_attempts):
        open_matches = [m for m in matches if m.winner is None]
        if not open_matches:
            return
        asks = _asks(ctx, open_matches, attempt, known)
        results = ctx.run("judge", [a.request for a in asks], accept=accept, check=check)
        for ask in asks:
            _record(ask, results, attempt, judge_format)
        for match in open_matches:
            _settle(match)


def _checks(ctx: Context):
    """(check, accept) of judge replies: per judge format, or for a batch any readable comparison line."""
    if ctx.config.judge_batch == 1:
        return replies.judge_check(ctx.config.judge_format), replies.judge_accept(ctx.config.judge_format)
    return replies.batch_check(), replies.batch_accept()


def entries(ctx: Context) -> list[tuple[str, str, dict]]:
    """(tournament id, person name, filtered question row) for each person and each of their questions."""
    by_axis: dict[str, list[str]] = {}
    for person in ctx.people():
        for axis in person.axes:
            by_axis.setdefault(axis, []).append(person.name)
    out = []
    for row in ctx.read("filtered"):
        names = [row["name"]] if row["axis"] is None else by_axis.get(row["axis"], [])
        out += [(f"{name}|{row['qid']}", name, row) for name in names]
    return out


def knockout(ctx: Context, items: list[tuple[str, str, dict]]) -> tuple[dict[str, dict], dict[str, list[Match]]]:
    """Play every tournament round by round (an odd entrant gets a bye); tid → winner, and every tid's matches."""
    entrants = {tid: list(row["picked"]) for tid, _, row in items}
    history: dict[str, list[Match]] = {tid: [] for tid, _, _ in items}
    failed: set[str] = set()
    for round_no in range(1, 64):
        rounds = {}
        for tid, name, row in items:
            players = entrants[tid]
            if tid not in failed and len(players) > 1:
                pairs = range(0, len(players) - 1, 2)
                rounds[tid] = [Match(tid, name, row["question"], players[i], players[i + 1], round_no) for i in pairs]
                history[tid] += rounds[tid]
        if not rounds:
            break
        play(ctx, [m for ms in rounds.values() for m in ms])
        for tid, matches in rounds.items():
            bye = [entrants[tid][-1]] if len(entrants[tid]) % 2 else []
            if all(m.winner for m in matches):
                entrants[tid] = [m.winner for m in matches] + bye
            else:
                failed.add(tid)
    return {tid: entrants[tid][0] for tid in entrants if tid not in failed}, history


def run(ctx: Context) -> None:
    if ctx.done("judged"):
        return
    items = [(tid, name, row) for tid, name, row in entries(ctx) if len(row["picked"]) >= 2]
    winners, history = knockout(ctx, items)
    rows, left_out, counts = [], {}, Counter()
    for tid, name, row in items:
        problems = sum((m.problems for m in history[tid]), Counter())
        counts.update(problems)
        if tid not in winners:
            left_out[tid] = f"no winner after {ctx.config.judge_attempts} attempts: {dict(problems)}"
            continue
        rows.append(_pair(ctx, name, row, winners[tid], history[tid]))
    ctx.finish("judged", rows, left_out, tournaments=len(items), **counts)


def _pair(ctx: Context, name: str, row: dict, winner: dict, matches: list[Match]) -> dict:
    rng = random.Random(f"{ctx.config.seed}-rejected-{name}-{row['qid']}")
    loser = rng.choice([c for c in row["picked"] if c["sample"] != winner["sample"]])
    return {
        "name": name,
        "qid": row["qid"],
        "axis": row["axis"],
        "prompt": row["question"],
        "chosen": winner["text"],
        "rejected": loser["text"],
        "question_type": "personal" if row["axis"] is None else "divergent",
        "meta": {
            "qid": row["qid"],
            "candidates": [c["sample"] for c in row["picked"]],
            "rewards": [c["reward"] for c in row["picked"]],
            "chosen_sample": winner["sample"],
            "rejected_sample": loser["sample"],
            "user_types": {c["sample"]: c["user_type"] for c in row["picked"]},
            "categories": {c["sample"]: c.get("category") for c in row["picked"]},
            "candidate_seeds": {c["sample"]: c.get("seed") for c in row["picked"]},
            "judge": [t for m in matches for t in m.trace],
            "ties": sum(m.problems["tie"] for m in matches),
            "unparseable": sum(m.problems["unparseable"] for m in matches),
            "judge_model": ctx.config.roles["judge"].model,
            "sampler_model": ctx.config.roles["sampler"].model,
        },
    }


make_parser, main = stage_command("judge", run, __doc__)


if __name__ == "__main__":
    main()
