"""The generation pipeline's config (one YAML for every stage) and the context a stage runs in: its backends, the
shared request cache, its intermediate files (the `work` folder of the output directory), and the report of what it
left out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trl import TrlParser

from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import read_jsonl, read_rows, write_json, write_jsonl
from famous_persona.llm.backend import Backend, Request, Tally, make_request
from famous_persona.llm.cache import RequestCache, Results, run_cached
from famous_persona.llm.config import BackendConfig, open_backend
from famous_persona.llm.cost import price
from famous_persona.manifest import record_step
from famous_persona.schema import Persona

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
    dry_run: bool = field(default=False, metadata={"help": "Print the token/cost estimate; send nothing."})
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
    concurrency: int = field(default=16, metadata={"help": "Requests in flight per backend."})
    requests_per_minute: float = field(default=0, metadata={"help": "Rate limit of request starts (0 = none)."})
    timeout_s: float = 120.0
    max_retries: int = 6
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
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
    reward_model: str = field(default="sfairXC/FsfairX-LLaMA3-RM-v0.1", metadata={"help": "HF sequence classifier."})
    reward_batch_size: int = 8
    embedder: str = field(default="minilm", metadata={"help": "sentence-transformers model; 'minilm' = packaged."})
    keep: int = field(default=20, metadata={"help": "Candidates kept in the narrowest reward band."})
    diverse: int = field(default=4, metadata={"help": "Candidates picked by k-means for the judge."})
    judge_attempts: int = field(default=3, metadata={"help": "Times a tied or unparseable comparison is asked."})
    seed: int = 0

    def __post_init__(self) -> None:
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
            "temperature": self.writer_temperature,
            "max_tokens": self.writer_max_tokens,
        }
        sampler = {
            "model": self.sampler_model,
            "backend": self.sampler_backend,
            "base_url": self.sampler_base_url,
            "temperature": self.sampler_temperature,
            "top_p": self.sampler_top_p,
            "max_tokens": self.sampler_max_tokens,
        }
        judge = {
            "model": self.judge_model,
            "backend": self.judge_backend,
            "base_url": self.judge_base_url,
            "temperature": 0.0,
            "max_tokens": self.judge_max_tokens,
        }
        return {"writer": writer, "sampler": sampler, "judge": judge}

    def _shared_settings(self) -> dict[str, Any]:
        return {
            "api_key_env": self.api_key_env,
            "concurrency": self.concurrency,
            "requests_per_minute": self.requests_per_minute,
            "timeout_s": self.timeout_s,
            "max_retries": self.max_retries,
            "backoff_base_s": self.backoff_base_s,
            "backoff_max_s": self.backoff_max_s,
        }


class Context:
    """What a stage needs: config, paths, cache, backends per role, and a tally per stage."""

    def __init__(self, config: GenerateConfig, stage: str):
        self.config, self.stage = config, stage
        self.out = Path(config.out)
        self.work = self.out / "work"
        self.tally = Tally()
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
        params = backend.params(self.config.seed, sample)
        return make_request(rid, backend.model, messages, {**params, **extra}, sample)

    def run(self, role: str, requests: Sequence[Request]) -> Results:
        return asyncio.run(run_cached(requests, self.backend(role), self.cache, self.tally, price))

    def output(self, name: str) -> Path:
        return self.work / f"{name}.jsonl"

    def done(self, name: str) -> bool:
        return self.output(name).is_file() and not self.config.force

    def finish(self, name: str, rows: Sequence[dict[str, Any]], left_out: dict[str, str], **counts: Any) -> None:
        """Write the stage's rows and its report (counts, tally, every item left out and why) atomically."""
        write_jsonl(self.output(name), rows)
        report = {"rows": len(rows), "left_out": left_out, "tally": self.tally.as_dict(), **counts}
        write_json(self.work / f"{name}.report.json", report)
        tally = self.tally
        record_step(self.out / "manifest.json", "generation", name, rows=len(rows), left_out=len(left_out),
                    tally=tally.as_dict(), **counts)  # fmt: skip
        tokens = f"{tally.prompt_tokens}+{tally.completion_tokens} tokens"
        print(f"{name}: {len(rows)} rows, {len(left_out)} left out; {tally.sent} sent, {tally.cached} cached, "
              f"{tally.failed} failed; {tokens}, ${tally.cost_usd:.4f}")  # fmt: skip
        tally.reset()

    def read(self, name: str) -> list[dict[str, Any]]:
        return read_rows(self.output(name))


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
