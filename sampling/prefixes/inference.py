"""Persona inference by a model: the `{model}` of `persona_xy_4s_{model}` names a YAML file in an inference-models
folder (default experiments/configs/inference/) that says which backend runs it, so one name can mean GPT-4 through
the API, the small base model in-process, or a local OpenAI-compatible server.

Requests go through the shared request cache (<data>/cache/persona_inference.sqlite): a re-run pays for nothing twice
and an interrupted run resumes; a local model's entries are keyed by its weight files too. An empty reply is asked
again as a new sample; a reply cut at the token limit is kept and counted, since it is still the model's persona.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from famous_persona import persona_prompts
from famous_persona.config import read_config
from famous_persona.errors import DataError
from famous_persona.llm.backend import Backend, Completion, Tally, make_request
from famous_persona.llm.cache import RequestCache, run_cached
from famous_persona.llm.config import BackendConfig, open_backend
from famous_persona.llm.cost import price
from famous_persona.wording import Wording, default_wording

DEFAULT_DIR = "experiments/configs/inference"


@dataclass
class InferenceModel(BackendConfig):
    """One inference model: the backend that runs it, with the sampling of the original setup as defaults."""

    temperature: float = persona_prompts.SAMPLING["temperature"]
    top_p: float | None = persona_prompts.SAMPLING["top_p"]
    max_tokens: int = persona_prompts.SAMPLING["max_tokens"]
    attempts: int = field(default=3, metadata={"help": "Times an empty reply is asked again, as a new sample."})


def load_inference_model(directory: Path | str, short: str, overrides: Sequence[str] = ()) -> InferenceModel:
    """The model a method calls `short`: <directory>/<short>.yaml, then `--key value` overrides, read by the same
    YAML parser as every config."""
    path = Path(directory) / f"{short}.yaml"
    if not path.is_file():
        raise DataError(f"no inference model {short!r}: write {path} (keys: model, backend, base_url, ...)")
    return read_config(path, InferenceModel, overrides)


class PersonaInference:
    """Asks the named inference models for personas in `wording` (its persona part, also the system line); backends
    are opened once and shared across methods."""

    def __init__(
        self,
        directory: Path | str,
        cache_path: Path | str,
        overrides: Sequence[str] = (),
        wording: Wording | None = None,
    ):
        self.directory = Path(directory)
        self.overrides = list(overrides)
        self.wording = wording or default_wording()
        self.cache_path = Path(cache_path)
        self.tally = Tally()
        self._backends: dict[str, Backend] = {}
        self._cache: RequestCache | None = None

    def model(self, short: str) -> InferenceModel:
        return load_inference_model(self.directory, short, self.overrides)

    def infer(self, short: str, requests: Sequence[tuple[str, str]], seed: int) -> tuple[dict[str, str], int]:
        """(request id → persona text, replies cut at the token limit) for (id, request text) items."""
        spec = self.model(short)
        texts: dict[str, str] = {}
        truncated, failures = 0, {}
        pending = list(requests)
        for attempt in range(spec.attempts):
            batch = [
                make_request(
                    rid, spec.model, persona_prompts.messages(text, self.wording), spec.params(seed, attempt), attempt
                )
                for rid, text in pending
            ]
            backend = self._backend(short, spec)
            shown = f"personas by {short}" + (f" (re-ask {attempt})" if attempt else "")
            cache = self._request_cache()
            results = asyncio.run(run_cached(batch, backend, cache, self.tally, price, kept, shown))
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


def kept(completion: Completion) -> bool:
    """Every persona reply is final: a cut one is kept (and counted), an empty one is answered by asking a new sample,
    so a re-run replays the same sequence from the cache instead of redrawing it."""
    return True
