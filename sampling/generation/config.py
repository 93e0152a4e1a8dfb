"""The generation pipeline's config (one YAML for every stage) and the context a stage runs in: its backends, the
shared request cache, its intermediate files (the `work` folder of the output directory), and the report of what it
left out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trl import TrlParser

from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import read_jsonl, write_json, write_jsonl
from famous_persona.llm.backend import Backend, Request, Tally, make_request
from famous_persona.llm.cache import RequestCache, Results, run_cached
from famous_persona.llm.cost import price
from famous_persona.llm.openai_backend import OpenAIBackend, RetryPolicy
from famous_persona.manifest import record_step
from famous_persona.schema import Persona

ROLES = ("writer", "sampler", "judge")


@dataclass
class GenerateConfig:
    """Every knob of the pipeline; each stage reads the ones it needs."""

    out: str = field(default="data/famous_persona_regen", metadata={"help": "Dataset directory to write."})
    people_table: str = field(default="data/famous_persona/personas.jsonl", metadata={"help": "The people."})
    people: list[str] = field(default_factory=list, metadata={"help": "Only these names (default: everyone)."})
    stages: list[str] = field(default_factory=list, metadata={"help": "Stages to run (default: all, in order)."})
    force: bool = field(default=False, metadata={"help": "Redo stages whose output exists (the cache still holds)."})
    dry_run: bool = field(default=False, metadata={"help": "Print the token/cost estimate; send nothing."})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "Environment variable holding the key."})
    writer_backend: str = "openai"
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
            self._backends[role] = build_backend(self.config, role, self.tally)
        return self._backends[role]

    def request(self, role: str, rid: str, messages: Sequence[tuple[str, str]], sample: int = 0, **extra) -> Request:
        params = {**sampling_params(self.config, role), "seed": self.config.seed * 1_000_003 + sample}
        return make_request(rid, getattr(self.config, f"{role}_model"), messages, {**params, **extra}, sample)

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
        return [json.loads(line) for line in self.output(name).read_text(encoding="utf-8").splitlines() if line]


def sampling_params(config: GenerateConfig, role: str) -> dict[str, Any]:
    if role == "sampler":
        return {
            "temperature": config.sampler_temperature,
            "top_p": config.sampler_top_p,
            "max_tokens": config.sampler_max_tokens,
        }
    temperature = config.writer_temperature if role == "writer" else 0.0
    return {"temperature": temperature, "max_tokens": getattr(config, f"{role}_max_tokens")}


def build_backend(config: GenerateConfig, role: str, tally: Tally) -> Backend:
    kind = getattr(config, f"{role}_backend")
    if kind == "transformers":
        from famous_persona.llm.local import TransformersBackend

        return TransformersBackend(getattr(config, f"{role}_model"))
    if kind != "openai":
        raise DataError(f"{role}_backend must be 'openai' or 'transformers', got {kind!r}")
    policy = RetryPolicy(config.max_retries, config.backoff_base_s, config.backoff_max_s, config.timeout_s)
    return OpenAIBackend(
        getattr(config, f"{role}_base_url"),
        config.api_key_env,
        config.concurrency,
        config.requests_per_minute,
        policy,
        tally,
        config.seed,
    )


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
