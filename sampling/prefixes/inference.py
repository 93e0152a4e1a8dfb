"""Persona inference by a model: the `{model}` of `persona_xy_4s_{model}` names a YAML file in an inference-models
folder (default experiments/configs/inference/) that says which backend runs it, so one name can mean GPT-4 through
the API, the small base model in-process, or a local OpenAI-compatible server.

Requests go through the shared request cache (<data>/cache/persona_inference.sqlite): a re-run pays for nothing twice
and an interrupted run resumes; a local model's entries are keyed by its weight files too. An empty reply is asked
again as a new sample; a reply cut at the token limit is kept and counted, since it is still the model's persona.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from famous_persona import persona_prompts
from famous_persona.errors import DataError
from famous_persona.llm.backend import Backend, Tally, make_request
from famous_persona.llm.cache import RequestCache, run_cached
from famous_persona.llm.cost import price
from famous_persona.llm.openai_backend import OpenAIBackend, RetryPolicy

DEFAULT_DIR = "experiments/configs/inference"


@dataclass(frozen=True)
class InferenceModel:
    """One inference model: the backend that runs it and its sampling (SPEC §5 defaults)."""

    model: str
    backend: str = "openai"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 16
    requests_per_minute: float = 0
    timeout_s: float = 120.0
    max_retries: int = 6
    dtype: str = "float32"
    batch_size: int = 8
    temperature: float = persona_prompts.SAMPLING["temperature"]
    top_p: float = persona_prompts.SAMPLING["top_p"]
    max_tokens: int = persona_prompts.SAMPLING["max_tokens"]
    attempts: int = 3

    def params(self, seed: int, attempt: int) -> dict[str, float | int | str]:
        """Sampling parameters; a re-ask changes the seed, so a server sees (and samples) a new request. A local
        model's weights are fingerprinted, so the cache never answers for a model that was since retrained."""
        seed = seed * 1_000_003 + attempt
        params = {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens, "seed": seed}
        if self.backend == "transformers" and Path(self.model).is_dir():
            params["weights"] = weights_fingerprint(Path(self.model))
        return params


def weights_fingerprint(model_dir: Path) -> str:
    """Names, sizes and modification times of a local model's weight files: changes whenever they are rewritten."""
    files = sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin"))
    stamp = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    return hashlib.sha256(repr(stamp).encode()).hexdigest()[:16]


def load_inference_model(directory: Path | str, short: str) -> InferenceModel:
    """The model a method calls `short`, from <directory>/<short>.yaml, with unknown keys named as errors."""
    path = Path(directory) / f"{short}.yaml"
    if not path.is_file():
        raise DataError(f"no inference model {short!r}: write {path} (keys: model, backend, base_url, ...)")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    known = {f.name for f in fields(InferenceModel)}
    unknown = sorted(set(data) - known)
    if unknown or "model" not in data:
        problem = f"unknown key(s) {unknown}" if unknown else "the key 'model' is missing"
        raise DataError(f"{path}: {problem}; known keys: {sorted(known)}")
    if data.get("backend", "openai") not in ("openai", "transformers"):
        raise DataError(f"{path}: backend must be 'openai' or 'transformers', got {data['backend']!r}")
    return InferenceModel(**data)


class PersonaInference:
    """Asks the named inference models for personas; backends are opened once and shared across methods."""

    def __init__(self, directory: Path | str, cache_path: Path | str):
        self.directory = Path(directory)
        self.cache_path = Path(cache_path)
        self.tally = Tally()
        self._backends: dict[str, Backend] = {}
        self._cache: RequestCache | None = None

    def model(self, short: str) -> InferenceModel:
        return load_inference_model(self.directory, short)

    def infer(self, short: str, requests: Sequence[tuple[str, str]], seed: int) -> tuple[dict[str, str], int]:
        """(request id → persona text, replies cut at the token limit) for (id, request text) items."""
        spec = self.model(short)
        texts: dict[str, str] = {}
        truncated, failures = 0, {}
        pending = list(requests)
        for attempt in range(spec.attempts):
            batch = [
                make_request(rid, spec.model, persona_prompts.messages(text), spec.params(seed, attempt), attempt)
                for rid, text in pending
            ]
            backend = self._backend(short, spec)
            results = asyncio.run(run_cached(batch, backend, self._request_cache(), self.tally, price))
            failures = dict(results.failures)
            for rid, completion in results.completions.items():
                persona = persona_prompts.clean(completion.text)
                if persona:
                    texts[rid] = persona
                    truncated += completion.finish_reason == "length"
                else:
                    failures[rid] = "empty reply"
            pending = [(rid, text) for rid, text in pending if rid not in texts]
            if not pending:
                return texts, truncated
        example = next(iter(failures.items()))
        raise DataError(
            f"persona inference by {short!r} ({spec.model}) failed for {len(pending)} of {len(requests)} requests "
            f"(e.g. {example[0]}: {example[1]}); finished replies are kept in {self.cache_path}, so a re-run resumes"
        )

    def _request_cache(self) -> RequestCache:
        if self._cache is None:
            self._cache = RequestCache(self.cache_path)
        return self._cache

    def _backend(self, short: str, spec: InferenceModel) -> Backend:
        if short not in self._backends:
            self._backends[short] = open_backend(spec, self.tally)
        return self._backends[short]


def open_backend(spec: InferenceModel, tally: Tally) -> Backend:
    if spec.backend == "transformers":
        from famous_persona.llm.local import TransformersBackend

        return TransformersBackend(spec.model, dtype=spec.dtype, batch_size=spec.batch_size)
    policy = RetryPolicy(spec.max_retries, timeout_s=spec.timeout_s)
    return OpenAIBackend(spec.base_url, spec.api_key_env, spec.concurrency, spec.requests_per_minute, policy, tally)
