"""The runtime a pipeline stage runs in (`Context`): its backends per role, the shared request cache, its
intermediate files (the `work` folder of the output directory), the report of what it left out, and the command
every stage module exposes (`stage_command`)."""

from __future__ import annotations

import asyncio
import hashlib
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from trl import TrlParser

from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import read_json, read_jsonl, read_rows, write_json, write_jsonl
from famous_persona.llm.backend import FAILED, Backend, Check, Completion, Request, Tally, make_request
from famous_persona.llm.cache import RequestCache, Results, run_cached
from famous_persona.llm.config import open_backend
from famous_persona.llm.cost import price
from famous_persona.manifest import record_step
from famous_persona.schema import Persona
from sampling.generation.config import GenerateConfig, shaping, warn_flat

Accept = Callable[[Completion], bool]


def subject(request_id: str, names: dict[str, str]) -> str:
    """The person (or axis) a request served, from the ids the stages give: `key#i`, `p:key:n#i`, `d:axis:n#i`,
    `Name|qid|...`."""
    head = request_id.split("#")[0]
    if "|" in head:
        return head.split("|")[0]
    kind, _, rest = head.partition(":")
    key = rest.rsplit(":", 1)[0] if kind in ("p", "d") and rest else head
    return names.get(key, f"axis {key}")


class Context:
    """What a stage needs: config, paths, cache, backends per role, and a tally per stage."""

    def __init__(self, config: GenerateConfig, stage: str):
        self.config, self.stage = config, stage
        self.out = Path(config.out)
        self.work = self.out / "work"
        self.tally = Tally()
        self.replies: Counter = Counter()
        self.spread: Counter = Counter()
        self.lost: dict[str, str] = {}
        self.inputs: dict[str, str] = {}
        self._cache: RequestCache | None = None
        self._backends: dict[str, Backend] = {}

    @property
    def cache(self) -> RequestCache:
        if self._cache is None:
            self._cache = RequestCache(self.work / "cache.sqlite")
        return self._cache

    def people(self) -> list[Persona]:
        people = read_jsonl(self.config.people_table, Persona, unique="name")
        wanted = set(self.config.people)
        unknown = wanted - {p.name for p in people}
        if unknown:
            raise DataError(f"{self.config.people_table}: no such people {sorted(unknown)}")
        return [p for p in people if not wanted or p.name in wanted]

    def backend(self, role: str) -> Backend:
        if role not in self._backends:
            self._backends[role] = open_backend(self.config.roles[role], self.tally, self.config.seed)
        return self._backends[role]

    def request(self, role: str, rid: str, messages: Sequence[tuple[str, str]], sample: int = 0, **extra) -> Request:
        backend = self.config.roles[role]
        params = backend.for_server({**backend.params(self.config.seed, sample), **extra})
        return make_request(rid, backend.model, messages, params, sample)

    def run(
        self, role: str, requests: Sequence[Request], accept: Accept | None = None, check: Check | None = None
    ) -> Results:
        """Send through the cache (re-asking unusable replies with new seeds); count every reply as usable or by why
        it is not, and remember every request without a final reply as lost, with its reason, for the report."""
        shown = f"{self.stage} ({role})"
        backend, reasks = self.backend(role), self.config.reasks
        results = asyncio.run(
            run_cached(requests, backend, self.cache, self.tally, price, accept, shown, check, reasks)
        )
        self.replies.update(reply_outcomes(requests, results))
        self.spread.update(sample_spread(requests, results))
        self.lost |= results.failures
        self.lost |= {rid: results.problems.get(rid, "reply not accepted") for rid in results.rejected}
        return results

    def output(self, name: str) -> Path:
        return self.work / f"{name}.jsonl"

    def done(self, name: str) -> bool:
        """A stage is done when its output is complete (nothing lost), made from the same config and inputs; an
        output made with another config is an error naming the changed keys."""
        report_path = self.work / f"{name}.report.json"
        if self.config.force or not self.output(name).is_file() or not report_path.is_file():
            return False
        report = read_json(report_path)
        made_with = report.get("config", {})
        changed = sorted(k for k in shaping(self.config) | made_with if made_with.get(k) != shaping(self.config).get(k))
        if changed:
            raise DataError(
                f"{self.output(name)} was made with other values of {changed}; run with --force true to "
                "remake it, or another --out"
            )
        inputs = report.get("inputs", {})
        return not report.get("lost") and all(file_digest(self.output(n)) == d for n, d in inputs.items())

    def finish(self, name: str, rows: Sequence[dict[str, Any]], left_out: dict[str, str], **counts: Any) -> None:
        """Write the stage's rows and its report (counts, tally, every item left out and why) atomically."""
        write_jsonl(self.output(name), rows)
        names = {p.key: p.name for p in self.people()}
        by_subject = dict(Counter(subject(rid, names) for rid in self.lost))
        replies = replies_summary(self.replies)
        report = {
            "rows": len(rows),
            "replies": replies,
            "samples": dict(self.spread),
            "left_out": left_out,
            "lost": self.lost,
            "lost_by_subject": by_subject,
            "config": shaping(self.config),
            "inputs": self.inputs,
            "tally": self.tally.as_dict(),
            **counts,
        }
        write_json(self.work / f"{name}.report.json", report)
        tally = self.tally
        record_step(
            self.out / "manifest.json",
            "generation",
            name,
            rows=len(rows),
            left_out=len(left_out),
            lost=len(self.lost),
            lost_by_subject=by_subject,
            replies=replies,
            tally=tally.as_dict(),
            **counts,
        )
        tokens = f"{tally.prompt_tokens}+{tally.completion_tokens} tokens"
        print(
            f"{name}: {len(rows)} rows, {len(left_out)} left out; {tally.sent} sent, {tally.cached} cached, "
            f"{tally.failed} failed; {tokens}, ${tally.cost_usd:.4f}"
        )
        if replies["asked"]:
            print(f"  replies: {describe_replies(replies)}")
        if self.spread["identical"] and self.spread["identical"] == self.spread["groups"]:
            print(f"  warning: {SAMPLING_OFF}", file=sys.stderr)
        tally.reset()
        self.replies, self.spread = Counter(), Counter()
        self.lost, self.inputs = {}, {}

    def read(self, name: str) -> list[dict[str, Any]]:
        """An earlier stage's rows; its digest is recorded, so a remade input makes this stage run again."""
        self.inputs[name] = file_digest(self.output(name))
        return read_rows(self.output(name))


SAMPLING_OFF = (
    "every group of samples asked with different seeds came back identical: the server is not sampling, so the "
    "samples are not independent (for `transformers serve` set `server: transformers-serve` in the writer, sampler "
    "and judge blocks)"
)


def reply_outcomes(requests: Sequence[Request], results: Results) -> Counter:
    """'asked', 'usable', and one count per reason a request's last reply was not usable (or that none came)."""
    outcomes: Counter = Counter(asked=len(requests))
    for request in requests:
        if request.id in results.failures:
            outcomes[FAILED] += 1
        else:
            outcomes[results.problems.get(request.id, "usable")] += 1
    return outcomes


def sample_spread(requests: Sequence[Request], results: Results) -> Counter:
    """Groups of two or more samples of one prompt (different seeds, temperature above 0) and how many of them came
    back as one identical text: all of them identical means the server ignores the sampling settings."""
    groups: dict[str, list[str]] = {}
    for request in requests:
        params = dict(request.params)
        completion = results.completions.get(request.id)
        if completion is None or not params.get("temperature"):
            continue
        prompt = repr((request.model, request.messages, sorted((k, v) for k, v in params.items() if k != "seed")))
        groups.setdefault(prompt, []).append(completion.text)
    counted = [texts for texts in groups.values() if len(texts) > 1]
    return Counter(groups=len(counted), identical=sum(len(set(texts)) == 1 for texts in counted))


def replies_summary(outcomes: Counter) -> dict[str, Any]:
    """A stage's replies for its report: asked, usable, and the rest by why."""
    reasons = {k: n for k, n in sorted(outcomes.items(), key=lambda kv: -kv[1]) if k not in ("asked", "usable")}
    return {"asked": outcomes["asked"], "usable": outcomes["usable"], "not_usable": reasons}


def describe_replies(replies: dict[str, Any]) -> str:
    """'12/20 usable (60%); not usable: no list 5, cut at the length cap 3'."""
    asked, usable = replies["asked"], replies["usable"]
    line = f"{usable}/{asked} usable ({usable / asked:.0%})" if asked else "none asked"
    if replies["not_usable"]:
        line += "; not usable: " + ", ".join(f"{why} {n}" for why, n in replies["not_usable"].items())
    return line


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def stage_command(stage: str, run: Callable[[Context], Any], doc: str | None) -> tuple[Callable, Callable]:
    """`make_parser` and `main` of one pipeline stage (`famous-persona gen-<stage>`), all parsing the shared config."""

    def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
        return stage_parser(f"gen-{stage}", [GenerateConfig], doc, subparsers)

    @exit_on_data_error
    def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
        (config,) = parse_config(parser or make_parser(), args)
        warn_flat(args)
        run(Context(config, stage))

    return make_parser, main
