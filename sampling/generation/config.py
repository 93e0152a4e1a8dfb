"""The generation pipeline's config: one YAML for every stage. Each role (writer, sampler, judge) is a full backend
config of its own (`writer:`, `sampler:`, `judge:` blocks of any `BackendConfig` key), over the transport settings
shared at the top level; the stage runtime is sampling/generation/runtime.py."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from famous_persona.config import load_yaml
from famous_persona.errors import DataError
from famous_persona.llm.config import BackendConfig, check_key_variable

ROLES = ("writer", "sampler", "judge")
# Each role's own defaults, under what its YAML block or the command line sets.
ROLE_DEFAULTS: dict[str, dict[str, Any]] = {
    "writer": {"model": "gpt-4-0613", "temperature": 1.0, "max_tokens": 2048},
    "sampler": {
        "model": "HuggingFaceH4/zephyr-7b-beta",
        "base_url": "http://127.0.0.1:8000/v1",
        "temperature": 2.0,
        "top_p": 0.8,
        "max_tokens": 512,
    },
    "judge": {"model": "gpt-4-0613", "temperature": 0.0, "max_tokens": 512},
}
# Top-level keys every role starts from (a role's block may set its own).
SHARED = (
    "api_key_env",
    "concurrency",
    "requests_per_minute",
    "tokens_per_minute",
    "adaptive_concurrency",
    "timeout_s",
    "connect_timeout_s",
    "stream",
    "queue_timeout_s",
    "max_retries",
    "backoff_base_s",
    "backoff_max_s",
)
# The flat spelling `{role}_{key}` of the first releases: still read (the command line's short form), but a YAML file
# that uses it gets a deprecation line.
FLAT = ("backend", "model", "base_url", "server", "temperature", "top_p", "max_tokens")
ROLE_HELP = (
    "{role}'s backend: a YAML mapping (or JSON on the command line) of any backend key: model, backend (openai | "
    "transformers), base_url, server, temperature, top_p, max_tokens, dtype, batch_size, system_prompt, concurrency, "
    "timeout_s, ... (docs/generation.md)."
)


@dataclass
class GenerateConfig:
    """Every knob of the pipeline; each stage reads the ones it needs. Each role's backend is resolved into one
    `BackendConfig` (`roles`): its defaults, then the shared top-level keys, its block, and its flat keys."""

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
    # A role block is a mapping when read from YAML and JSON text on the command line (argparse takes one type).
    writer: str | None = field(default=None, metadata={"help": ROLE_HELP.format(role="The writer")})
    sampler: str | None = field(default=None, metadata={"help": ROLE_HELP.format(role="The sampler")})
    judge: str | None = field(default=None, metadata={"help": ROLE_HELP.format(role="The judge")})
    writer_backend: str | None = field(default=None, metadata={"help": "Short for writer: {backend: ...}."})
    writer_model: str | None = field(default=None, metadata={"help": "Short for writer: {model: ...}."})
    writer_base_url: str | None = field(default=None, metadata={"help": "Short for writer: {base_url: ...}."})
    writer_server: str | None = field(default=None, metadata={"help": "Short for writer: {server: ...}."})
    writer_temperature: float | None = field(default=None, metadata={"help": "Short for writer: {temperature: ...}."})
    writer_max_tokens: int | None = field(default=None, metadata={"help": "Short for writer: {max_tokens: ...}."})
    sampler_backend: str | None = field(default=None, metadata={"help": "Short for sampler: {backend: ...}."})
    sampler_model: str | None = field(default=None, metadata={"help": "Short for sampler: {model: ...}."})
    sampler_base_url: str | None = field(default=None, metadata={"help": "Short for sampler: {base_url: ...}."})
    sampler_server: str | None = field(default=None, metadata={"help": "Short for sampler: {server: ...}."})
    sampler_temperature: float | None = field(default=None, metadata={"help": "Short for sampler: {temperature: ...}."})
    sampler_top_p: float | None = field(default=None, metadata={"help": "Short for sampler: {top_p: ...}."})
    sampler_max_tokens: int | None = field(default=None, metadata={"help": "Short for sampler: {max_tokens: ...}."})
    judge_backend: str | None = field(default=None, metadata={"help": "Short for judge: {backend: ...}."})
    judge_model: str | None = field(default=None, metadata={"help": "Short for judge: {model: ...}."})
    judge_base_url: str | None = field(default=None, metadata={"help": "Short for judge: {base_url: ...}."})
    judge_server: str | None = field(default=None, metadata={"help": "Short for judge: {server: ...}."})
    judge_max_tokens: int | None = field(default=None, metadata={"help": "Short for judge: {max_tokens: ...}."})
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
    stream: bool = field(
        default=False, metadata={"help": "Stream replies, so queue_timeout_s can bound the wait for a first token."}
    )
    queue_timeout_s: float = field(default=0.0, metadata={"help": "With stream: seconds to the first token."})
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
    judge_format: str = field(
        default="auto",
        metadata={
            "help": "reasoned: reason, then 'Preferred: 1|2'; letter: one letter, A or B; copy: repeat the preferred "
            "answer (for models too small to name a letter by content); auto: reasoned for the full prompt style, "
            "letter for the small one."
        },
    )
    judge_batch: int = field(
        default=1,
        metadata={"help": "Comparisons of one person per judge request (reasoned format), answered line by line."},
    )
    judge_examples: bool = field(
        default=False, metadata={"help": "Show the reasoned judge a worked example before its comparison(s)."}
    )
    divergent_candidates: str = field(
        default="categories",
        metadata={
            "help": "categories: each divergent candidate is written for one category held by the people on the "
            "question's axis, in turn; open: the sampler names a user type itself, as for personal questions."
        },
    )
    two_phase_candidates: bool = field(
        default=False,
        metadata={
            "help": "Ask each open candidate in two requests, as the original did: a draft reasoning over the axes "
            "that names a kind of user, then an answer for that kind."
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
        if self.judge_format == "auto":
            self.judge_format = "letter" if self.prompt_style == "small" else "reasoned"
        _check_ranges(self)
        check_key_variable(self.api_key_env)
        self.roles: dict[str, BackendConfig] = {role: self._resolve(role) for role in ROLES}

    def _resolve(self, role: str) -> BackendConfig:
        """A role's backend: its defaults, the shared keys, its block, then its flat keys; a bad key names the role."""
        settings = {**ROLE_DEFAULTS[role], **{key: getattr(self, key) for key in SHARED}}
        settings |= role_block(role, getattr(self, role))
        settings |= {key: value for key in FLAT if (value := getattr(self, f"{role}_{key}", None)) is not None}
        known = {f.name for f in fields(BackendConfig)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise DataError(f"{role}: unknown key(s) {unknown}; the backend keys are {sorted(known)}")
        try:
            resolved = BackendConfig(**settings)
        except (DataError, TypeError) as error:
            raise DataError(f"{role}: {error}") from None
        _check_role(role, resolved)
        return resolved

    def flat_keys(self) -> list[str]:
        """The flat role keys (`judge_model`, ...) this config sets."""
        return [f"{r}_{k}" for r in ROLES for k in FLAT if getattr(self, f"{r}_{k}", None) is not None]


def role_block(role: str, value: str | dict | None) -> dict[str, Any]:
    """A role's block: a YAML mapping, or JSON text from the command line."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise DataError(f"{role}: expected a JSON object, got {value!r} ({error.msg})") from None
    if not isinstance(value, dict):
        raise DataError(f"{role}: expected a mapping of backend keys, got {value!r}")
    return value


def _check_role(role: str, config: BackendConfig) -> None:
    """Refuse a role setting no run can use, naming the role and the key."""
    for key, low in ROLE_AT_LEAST.items():
        if getattr(config, key) < low:
            raise DataError(f"{role}: {key} must be at least {low}, got {getattr(config, key)!r}")
    if config.top_p is not None and not 0 < config.top_p <= 1:
        raise DataError(f"{role}: top_p must be above 0 and at most 1, got {config.top_p!r}")


STAGE_NAMES = ("personas", "questions", "candidates", "filter", "judge", "split")
STYLES = ("full", "small")
JUDGE_FORMATS = ("reasoned", "letter", "copy")
DIVERGENT_CANDIDATES = ("categories", "open")
# Fields that change how a run talks to its servers but not what it writes: a stage output does not depend on them.
TRANSPORT = (
    "out",
    "force",
    "allow_partial",
    "dry_run",
    "probe",
    "stages",
    *SHARED,
    "reasks",
    "reward_batch_size",
)
ROLE_TRANSPORT = (*SHARED, "base_url")
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
    "reward_batch_size": 1,
    "diverse": 2,
    "judge_attempts": 1,
    "judge_batch": 1,
    "reasks": 0,
}
ABOVE_ZERO = ("timeout_s", "connect_timeout_s", "overgenerate", "near_duplicate")
ROLE_AT_LEAST = {"temperature": 0, "max_tokens": 1, "concurrency": 1, "batch_size": 1, "timeout_s": 0.001}


def _check_ranges(config: GenerateConfig) -> None:
    """Refuse a value no run can use (`concurrency: 0` would wait forever), naming the field."""
    for key, low in AT_LEAST.items():
        if getattr(config, key) < low:
            raise DataError(f"{key} must be at least {low}, got {getattr(config, key)!r}")
    for key in ABOVE_ZERO:
        if not getattr(config, key) > 0:
            raise DataError(f"{key} must be above 0, got {getattr(config, key)!r}")
    if config.near_duplicate > 1:
        raise DataError(f"near_duplicate is at most 1, got {config.near_duplicate}")
    if config.keep < config.diverse:
        raise DataError(f"keep ({config.keep}) must be at least diverse ({config.diverse})")
    if config.personal_target + config.divergent_target == 0:
        raise DataError("personal_target and divergent_target are both 0: the run would make no pairs")
    if config.prompt_style not in STYLES:
        raise DataError(f"prompt_style must be one of {list(STYLES)}, got {config.prompt_style!r}")
    if config.judge_format not in JUDGE_FORMATS:
        raise DataError(f"judge_format must be one of {list(JUDGE_FORMATS) + ['auto']}, got {config.judge_format!r}")
    if (config.judge_batch > 1 or config.judge_examples) and config.judge_format != "reasoned":
        raise DataError(
            f"judge_batch and judge_examples need judge_format: reasoned (got {config.judge_format!r}): the short "
            "forms ask one comparison, without examples"
        )
    if config.divergent_candidates not in DIVERGENT_CANDIDATES:
        raise DataError(
            f"divergent_candidates must be one of {list(DIVERGENT_CANDIDATES)}, got {config.divergent_candidates!r}"
        )
    unknown = [stage for stage in config.stages if stage not in STAGE_NAMES]
    if unknown:
        raise DataError(f"unknown stages {unknown}; the stages are {list(STAGE_NAMES)}")


def shaping(config: GenerateConfig) -> dict[str, Any]:
    """The config fields a stage output depends on (everything but transport and bookkeeping), each role's backend
    as resolved, however it was spelt."""
    spelt = {*TRANSPORT, *ROLES, *(f"{r}_{k}" for r in ROLES for k in FLAT)}
    shaped = {key: value for key, value in asdict(config).items() if key not in spelt}
    roles = {r: {k: v for k, v in asdict(b).items() if k not in ROLE_TRANSPORT} for r, b in config.roles.items()}
    return shaped | {"roles": roles}


def record(config: GenerateConfig) -> dict[str, Any]:
    """The config as a manifest keeps it: every field, and each role's backend as resolved."""
    return asdict(config) | {"roles": {role: asdict(backend) for role, backend in config.roles.items()}}


def warn_flat(args: Sequence[str] | None) -> None:
    """One deprecation line when the YAML file given by --config spells role keys flat (`judge_model: ...`)."""
    args = list(args) if args is not None else sys.argv[1:]
    if "--config" not in args[:-1]:
        return
    path = args[args.index("--config") + 1]
    flat = {f"{r}_{k}" for r in ROLES for k in FLAT}
    used = [key for key in load_yaml(path)[0] if key in flat]
    if used:
        print(
            f"deprecated: {path} spells role keys flat ({', '.join(used)}); write them under writer:, sampler: "
            "and judge: (docs/generation.md)",
            file=sys.stderr,
        )
