"""One LLM backend's settings (`BackendConfig`) and the one factory that opens it, shared by the generation pipeline
(one per role) and persona inference (one per inference-model YAML)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from famous_persona.errors import DataError
from famous_persona.llm.backend import Backend, Tally
from famous_persona.llm.openai_backend import OpenAIBackend, RetryPolicy
from famous_persona.redaction import looks_like_key, register

Opener = Callable[["BackendConfig", Tally, int], Backend]
# Kinds of backend, each with the function that opens one from its config: a new kind is one `register_backend` call.
BACKENDS: dict[str, Opener] = {}
# OpenAI-compatible servers that need something beyond the OpenAI schema. `transformers serve` starts every request
# from the model's generation config, which for most models means greedy decoding: `temperature` and `seed` are then
# ignored (it logs "not a valid generation flag"), so sampling is switched on in the request itself.
SERVERS = ("openai", "transformers-serve")


@dataclass
class BackendConfig:
    """Who answers a request and how it is sampled. A new kind of backend is one `register_backend` call."""

    model: str = field(default="", metadata={"help": "Model id sent to the server, or a local model for transformers."})
    backend: str = field(default="openai", metadata={"help": "openai, transformers or a registered kind."})
    base_url: str | None = field(default=None, metadata={"help": "OpenAI-compatible server (default: the API)."})
    server: str = field(
        default="openai",
        metadata={
            "help": "openai: the API, vLLM and any server that follows its schema; transformers-serve: `transformers "
            "serve`, which decodes greedily unless each request switches sampling on (sent when temperature > 0)."
        },
    )
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "Environment variable holding the key."})
    concurrency: int = field(default=16, metadata={"help": "Requests in flight."})
    requests_per_minute: float = field(default=0, metadata={"help": "Rate limit of request starts (0 = none)."})
    tokens_per_minute: float = field(
        default=0, metadata={"help": "Token budget: prompt plus reply cap per request, settled by usage (0 = none)."}
    )
    adaptive_concurrency: bool = field(
        default=True, metadata={"help": "Halve the requests in flight on timeouts, 429 and 503; regain them slowly."}
    )
    timeout_s: float = field(default=120.0, metadata={"help": "Seconds for a whole reply, queueing included."})
    connect_timeout_s: float = field(default=10.0, metadata={"help": "Seconds to reach the server."})
    stream: bool = field(
        default=False,
        metadata={"help": "Receive replies token by token, so the wait for the first token is timed on its own."},
    )
    queue_timeout_s: float = field(
        default=0.0,
        metadata={
            "help": "With stream: seconds until the first token (the server's queue and the prompt; 0 = timeout_s). "
            "A request that runs past it counts as an overloaded server (fewer in flight), one past timeout_s "
            "after it started does not."
        },
    )
    max_retries: int = 6
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    dtype: str = field(
        default="auto", metadata={"help": "transformers: weight dtype (auto: bf16 where supported, float32 on a CPU)."}
    )
    system_prompt: str | None = field(
        default=None,
        metadata={
            "help": "transformers: the system turn, as in the model's training recipe (unset: the template decides; "
            "'' an empty turn, which keeps a template's default message out)."
        },
    )
    batch_size: int = field(default=8, metadata={"help": "transformers: requests generated together."})
    temperature: float = 1.0
    top_p: float | None = field(default=None, metadata={"help": "Nucleus sampling (unset: not sent)."})
    max_tokens: int = 512

    def __post_init__(self) -> None:
        if not self.model:
            raise DataError("the key 'model' is missing")
        if self.backend not in BACKENDS:
            raise DataError(f"backend must be one of {list(BACKENDS)}, got {self.backend!r}")
        if self.server not in SERVERS:
            raise DataError(f"server must be one of {list(SERVERS)}, got {self.server!r}")
        check_key_variable(self.api_key_env)
        register(os.environ.get(self.api_key_env))

    def params(self, seed: int, sample: int) -> dict[str, Any]:
        """Sampling parameters of one request; each sample gets its own seed, so a server samples anew. A local
        model's weights are fingerprinted, so the cache never answers for a model that was since retrained."""
        params: dict[str, Any] = {"temperature": self.temperature}
        if self.top_p is not None:
            params["top_p"] = self.top_p
        params |= {"max_tokens": self.max_tokens, "seed": seed * 1_000_003 + sample}
        params = self.for_server(params)
        if self.backend == "transformers" and Path(self.model).is_dir():
            params["weights"] = weights_fingerprint(Path(self.model))
        if self.backend == "transformers" and self.system_prompt is not None:
            params["system_prompt"] = self.system_prompt
        return params

    def for_server(self, params: dict[str, Any]) -> dict[str, Any]:
        """`params` with what this server needs for them to take effect (call again after overriding temperature):
        `transformers serve` samples only when the request switches sampling on."""
        params = {k: v for k, v in params.items() if k != "generation_config"}
        if self.server == "transformers-serve" and params.get("temperature", 0) > 0:
            params["generation_config"] = json.dumps({"do_sample": True})
        return params


def check_key_variable(name: str) -> None:
    """Refuse a key pasted where the name of its environment variable belongs, without echoing it."""
    if looks_like_key(name):
        raise DataError(
            "api_key_env must name an environment variable (such as OPENAI_API_KEY), but its value looks like an API "
            "key itself (not shown): put the key in a variable and give that variable's name"
        )


def weights_fingerprint(model_dir: Path) -> str:
    """Names, sizes and modification times of a local model's weight files: changes whenever they are rewritten."""
    files = sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin"))
    stamp = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    return hashlib.sha256(repr(stamp).encode()).hexdigest()[:16]


def register_backend(kind: str, opener: Opener) -> None:
    """Make `backend: <kind>` open through `opener(config, tally, seed)`."""
    BACKENDS[kind] = opener


def open_backend(config: BackendConfig, tally: Tally, seed: int = 0) -> Backend:
    """The backend a config names; `seed` seeds the retry jitter of a server backend."""
    return BACKENDS[config.backend](config, tally, seed)


def _open_transformers(config: BackendConfig, tally: Tally, seed: int) -> Backend:
    from famous_persona.llm.local import TransformersBackend

    return TransformersBackend(config.model, config.dtype, config.batch_size, config.system_prompt)


def _open_openai(config: BackendConfig, tally: Tally, seed: int) -> Backend:
    policy = RetryPolicy(
        config.max_retries,
        config.backoff_base_s,
        config.backoff_max_s,
        config.timeout_s,
        config.connect_timeout_s,
        config.queue_timeout_s,
    )
    return OpenAIBackend(
        config.base_url,
        config.api_key_env,
        config.concurrency,
        config.requests_per_minute,
        policy,
        tally,
        seed,
        config.tokens_per_minute,
        config.adaptive_concurrency,
        config.stream,
    )


register_backend("openai", _open_openai)
register_backend("transformers", _open_transformers)
