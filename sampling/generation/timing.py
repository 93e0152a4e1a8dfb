"""The dry run's time estimate for served models: two short requests per served role (a `base_url` of its own) with
different token caps measure the seconds a request costs and the seconds each reply token adds; each stage's time
is then its requests times (overhead + its reply cap in tokens x seconds per token), divided by the concurrency. The
caps make it an upper bound for replies that stop early; a weak model often runs to its cap."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from famous_persona.llm.backend import Completion, Request, Tally, make_request
from famous_persona.llm.config import open_backend
from famous_persona.llm.cost import Estimate
from sampling.generation import prompts
from sampling.generation.config import GenerateConfig

PROBE_CAPS = (8, 40)
ROLE_OF_STAGE = {"personal": "writer", "divergent": "writer", "candidates": "sampler", "judge": "judge"}


@dataclass(frozen=True)
class Speed:
    """What one served role costs in time: seconds per request and per reply token."""

    request_s: float
    token_s: float

    def seconds(self, requests: int, output_tokens: int, concurrency: int) -> float:
        return (requests * self.request_s + output_tokens * self.token_s) / max(1, concurrency)


def served_roles(config: GenerateConfig) -> list[str]:
    """Roles answered by a server of the user's own (a base_url), where time, not money, is the cost."""
    return [role for role, backend in config.roles.items() if backend.backend == "openai" and backend.base_url]


def probe(config: GenerateConfig, role: str) -> Speed:
    """Two requests, one after the other, with the role's settings and caps PROBE_CAPS (nothing is cached)."""
    backend = config.roles[role]
    text = prompts.CANDIDATE.format(question="What is a good way to spend a free afternoon?")
    timings: list[tuple[float, int]] = []
    for i, cap in enumerate(PROBE_CAPS):
        params = backend.for_server({**backend.params(config.seed, i), "max_tokens": cap, "temperature": 0.7})
        request = make_request(f"probe-{cap}", backend.model, prompts.messages("candidate", text), params, i)
        timings.append(_timed(backend, request, config.seed))
    (short_s, short_n), (long_s, long_n) = timings
    token_s = max(0.0, (long_s - short_s) / (long_n - short_n)) if long_n > short_n else long_s / max(1, long_n)
    return Speed(max(0.0, short_s - short_n * token_s), token_s)


def _timed(backend_config, request: Request, seed: int) -> tuple[float, int]:
    """(seconds, reply tokens) of one request sent straight to the server."""
    done: list[Completion] = []
    backend = open_backend(backend_config, Tally(), seed)
    start = time.perf_counter()
    failed = asyncio.run(backend.run([request], lambda _, completion: done.append(completion)))
    if failed or not done:
        raise RuntimeError(f"the probe request to {backend_config.base_url} failed: {failed}")
    return time.perf_counter() - start, done[0].completion_tokens


def estimate_time(config: GenerateConfig, estimates: list[Estimate]) -> list[str]:
    """One line per stage on a served role: its estimated time, from a probe of that role."""
    speeds = {role: probe(config, role) for role in served_roles(config)}
    lines = [
        f"{role}: {s.request_s:.2f} s per request + {s.token_s * 1000:.0f} ms per reply token (probe)"
        for role, s in speeds.items()
    ]
    total = 0.0
    for e in estimates:
        speed = speeds.get(ROLE_OF_STAGE.get(e.stage, ""))
        if speed is not None:
            seconds = speed.seconds(e.requests, e.output_tokens, config.concurrency)
            total += seconds
            lines.append(
                f"{e.stage}: at most {seconds / 60:.1f} min ({e.requests} requests, concurrency {config.concurrency})"
            )
    if speeds:
        lines.append(f"time on served models: at most {total / 60:.1f} min (judge re-asks of ties are extra)")
    return lines
