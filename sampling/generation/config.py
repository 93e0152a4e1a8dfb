"""The generation pipeline's config (one YAML for every stage) and the context a stage runs in: its backends, the
shared request cache, its intermediate files (the `work` folder of the output directory), and the report of what it
left out."""

from __future__ import annotations

import asyncio
import hashlib
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trl import TrlParser

from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import read_json, read_jsonl, read_rows, write_json, write_jsonl
from famous_persona.llm.backend import FAILED, Backend, Check, Completion, Request, Tally, make_request
from famous_persona.llm.cache import RequestCache, Results, run_cached
from famous_persona.llm.config import BackendConfig, check_key_variable, open_backend
from famous_persona.llm.cost import price
from famous_persona.manifest import record_step
from famous_persona.schema import Persona

Accept = Callable[[Completion], bool]
_ROLE_HELP = (
    "Each role (writer, sampler, judge) has {role}_backend (openai | transformers), {role}_model and {role}_base_url; "
    "sampling is {role}_temperature, {role}_top_p (sampler), {role}_max_tokens; the rest is shared by all roles."
)


@dataclass
class GenerateConfig:
    """Every knob of the pipeline; each stage reads the ones it needs. The three roles' backends are gathered into one
    `BackendConfig` each (`roles`); YAML and command line spell their fields flat, `{role}_{field}`."""

    out: str = field(default="data/famous_persona_regen", metadata={"help": "Dataset directory to write."})
    people_table: str = field(default="data/famous_persona/personas.jsonl", metadata={"help": "The people."})
    people: list[str] = field(default_factory=list, metadata={"help": "Only these names (default: everyone)."})
    stages: list[str] = field(default_factory=list, metadata={"help": "Stages to run (default: all, in order)."})
    force: bool = field(default=False, metadata={"help": "Redo stages whose output exists (the cache still holds)."})
    allow_partial: bool = field(
        default=False, metadata={"help": "End with status 0 although requests were lost (the run is still 'partial')."}
    )
    dry_run: bool = field(default=False, metadata={"help": "Print the token/cost estimate; send nothing."})
    probe: bool = field(
        default=False,
        metadata={
            "help": "With --dry_run: also time two short requests to each served role (one with a base_url) and "
            "estimate each stage's time from them (sends those requests only)."
        },
    )
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "Environment variable holding the key."})
    writer_backend: str = field(default="openai", metadata={"help": _ROLE_HELP})
    writer_model: str = "gpt-4-0613"
    writer_base_url: str | None = None
    sampler_backend: str = field(default="openai", metadata={"help": "openai (any compatible URL) or transformers."})
    sampler_model: str = "HuggingFaceH4/zephyr-7b-beta"
    sampler_base_url: str | None = "http://127.0.0.1:8000/v1"
    judge_backend: str = "openai"
    judge_model: str = "gpt-4-0613"
    judge_base_url: str | None = None
    writer_server: str = field(default="openai", metadata={"help": "openai | transformers-serve, per role."})
    sampler_server: str = "openai"
    judge_server: str = "openai"
    concurrency: int = field(default=16, metadata={"help": "Requests in flight per backend."})
    requests_per_minute: float = field(default=0, metadata={"help": "Rate limit of request starts (0 = none)."})
    tokens_per_minute: float = field(default=0, metadata={"help": "Token budget per backend (0 = none)."})
    adaptive_concurrency: bool = field(
        default=True, metadata={"help": "Fewer requests in flight after timeouts, 429 and 503 (never below 1)."}
    )
    timeout_s: float = field(
        default=120.0, metadata={"help": "Seconds for a whole reply, its wait in the queue included."}
    )
    connect_timeout_s: float = 10.0
    max_retries: int = 6
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    reasks: int = field(
        default=1,
        metadata={
            "help": "Times a reply a stage cannot use (empty, cut, no list, no answer) is asked again in the same run, "
            "each time with a new seed (recorded in the cache); the next run goes on from the last seed."
        },
    )
    prompt_style: str = field(
        default="full",
        metadata={"help": "full: the paper's multi-part requests; small: one short task per request (small models)."},
    )
    divergent_candidates: str = field(
        default="categories",
        metadata={
            "help": "categories: each divergent candidate is written for one category held by the people on the "
            "question's axis, in turn; open: the sampler names a user type itself, as for personal questions."
        },
    )
    propose_personas: bool = field(default=False, metadata={"help": "Also ask the writer for people per axis."})
    personal_target: int = field(default=100, metadata={"help": "Personal pairs per person (half train)."})
    divergent_target: int = field(default=100, metadata={"help": "Divergent pairs per person (half train)."})
    questions_per_request: int = 20
    overgenerate: float = field(default=1.5, metadata={"help": "Questions written per target pair."})
    near_duplicate: float = field(
        default=0.7, metadata={"help": "Word-bigram Jaccard above which a question is a duplicate."}
    )
    candidates: int = field(default=50, metadata={"help": "Candidate answers sampled per question."})
    sampler_temperature: float = 2.0
    sampler_top_p: float = 0.8
    sampler_max_tokens: int = 512
    writer_temperature: float = field(default=1.0, metadata={"help": "Varied lists across the writer's samples."})
    writer_max_tokens: int = 2048
    judge_max_tokens: int = 512
    reward_model: str = field(
        default="sfairXC/FsfairX-LLaMA3-RM-v0.1",
        metadata={"help": "HF sequence classifier; 'none' keeps the first `keep` candidates unscored."},
    )
    reward_batch_size: int = 8
    embedder: str = field(default="minilm", metadata={"help": "sentence-transformers model; 'minilm' = packaged."})
    keep: int = field(default=20, metadata={"help": "Candidates kept in the narrowest reward band."})
    diverse: int = field(default=4, metadata={"help": "Candidates picked by k-means for the judge."})
    judge_attempts: int = field(default=3, metadata={"help": "Times a tied or unparseable comparison is asked."})
    seed: int = 0

    def __post_init__(self) -> None:
        _check_ranges(self)
        check_key_variable(self.api_key_env)
        self.roles: dict[str, BackendConfig] = {}
        for role, settings in self._role_settings().items():
            try:
                self.roles[role] = BackendConfig(**settings, **self._shared_settings())
            except DataError as error:
                raise DataError(f"{role}_{error}") from None

    def _role_settings(self) -> dict[str, dict[str, Any]]:
        writer = {
            "model": self.writer_model,
            "backend": self.writer_backend,
            "base_url": self.writer_base_url,
            "server": self.writer_server,
            "temperature": self.writer_temperature,
            "max_tokens": self.writer_max_tokens,
        }
        sampler = {
            "model": self.sampler_model,
            "backend": self.sampler_backend,
            "base_url": self.sampler_base_url,
            "server": self.sampler_server,
            "temperature": self.sampler_temperature,
            "top_p": self.sampler_top_p,
            "max_tokens": self.sampler_max_tokens,
        }
        judge = {
            "model": self.judge_model,
            "backend": self.judge_backend,
            "base_url": self.judge_base_url,
            "server": self.judge_server,
            "temperature": 0.0,
            "max_tokens": self.judge_max_tokens,
        }
        return {"writer": writer, "sampler": sampler, "judge": judge}

    def _shared_settings(self) -> dict[str, Any]:
        return {
            "api_key_env": self.api_key_env,
            "concurrency": self.concurrency,
            "requests_per_minute": self.requests_per_minute,
            "tokens_per_minute": self.tokens_per_minute,
            "adaptive_concurrency": self.adaptive_concurrency,
            "timeout_s": self.timeout_s,
            "connect_timeout_s": self.connect_timeout_s,
            "max_retries": self.max_retries,
            "backoff_base_s": self.backoff_base_s,
            "backoff_max_s": self.backoff_max_s,
        }


STAGE_NAMES = ("personas", "questions", "candidates", "filter", "judge", "split")
STYLES = ("full", "small")
DIVERGENT_CANDIDATES = ("categories", "open")
# Fields that change how a run talks to its servers but not what it writes: a stage output does not depend on them.
TRANSPORT = (
    "out",
    "force",
    "allow_partial",
    "dry_run",
    "probe",
    "stages",
    "api_key_env",
    "concurrency",
    "requests_per_minute",
    "tokens_per_minute",
    "adaptive_concurrency",
    "timeout_s",
    "connect_timeout_s",
    "max_retries",
    "backoff_base_s",
    "backoff_max_s",
    "reasks",
    "writer_base_url",
    "sampler_base_url",
    "judge_base_url",
    "reward_batch_size",
)
AT_LEAST = {
    "concurrency": 1,
    "requests_per_minute": 0,
    "tokens_per_minute": 0,
    "max_retries": 0,
    "backoff_base_s": 0,
    "backoff_max_s": 0,
    "personal_target": 0,
    "divergent_target": 0,
    "questions_per_request": 1,
    "candidates": 1,
    "sampler_temperature": 0,
    "writer_temperature": 0,
    "sampler_max_tokens": 1,
    "writer_max_tokens": 1,
    "judge_max_tokens": 1,
    "reward_batch_size": 1,
    "diverse": 2,
    "judge_attempts": 1,
    "reasks": 0,
}
ABOVE_ZERO = ("timeout_s", "connect_timeout_s", "overgenerate", "sampler_top_p", "near_duplicate")


def _check_ranges(config: GenerateConfig) -> None:
    """Refuse a value no run can use (`concurrency: 0` would wait forever), naming the field."""
    for key, low in AT_LEAST.items():
        if getattr(config, key) < low:
            raise DataError(f"{key} must be at least {low}, got {getattr(config, key)!r}")
    for key in ABOVE_ZERO:
        if not getattr(config, key) > 0:
            raise DataError(f"{key} must be above 0, got {getattr(config, key)!r}")
    if config.near_duplicate > 1 or config.sampler_top_p > 1:
        raise DataError(
            f"near_duplicate and sampler_top_p are at most 1, got {config.near_duplicate}, {config.sampler_top_p}"
        )
    if config.keep < config.diverse:
        raise DataError(f"keep ({config.keep}) must be at least diverse ({config.diverse})")
    if config.personal_target + config.divergent_target == 0:
        raise DataError("personal_target and divergent_target are both 0: the run would make no pairs")
    if config.prompt_style not in STYLES:
        raise DataError(f"prompt_style must be one of {list(STYLES)}, got {config.prompt_style!r}")
    if config.divergent_candidates not in DIVERGENT_CANDIDATES:
        raise DataError(
            f"divergent_candidates must be one of {list(DIVERGENT_CANDIDATES)}, got {config.divergent_candidates!r}"
        )
    unknown = [stage for stage in config.stages if stage not in STAGE_NAMES]
    if unknown:
        raise DataError(f"unknown stages {unknown}; the stages are {list(STAGE_NAMES)}")


def shaping(config: GenerateConfig) -> dict[str, Any]:
    """The config fields a stage output depends on (everything but transport and bookkeeping)."""
    return {key: value for key, value in asdict(config).items() if key not in TRANSPORT}


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
    "samples are not independent (for `transformers serve` set writer_server, sampler_server and judge_server to "
    "transformers-serve)"
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


def config_dict(config: GenerateConfig) -> dict[str, Any]:
    return asdict(config)


def stage_command(stage: str, run: Callable[[Context], Any], doc: str | None) -> tuple[Callable, Callable]:
    """`make_parser` and `main` of one pipeline stage (`famous-persona gen-<stage>`), all parsing the shared config."""

    def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
        return stage_parser(f"gen-{stage}", [GenerateConfig], doc, subparsers)

    @exit_on_data_error
    def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
        (config,) = parse_config(parser or make_parser(), args)
        run(Context(config, stage))

    return make_parser, main
