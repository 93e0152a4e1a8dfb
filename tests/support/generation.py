"""Shared pieces of the generation-pipeline tests: the small config, the secret key, output scanning."""

from __future__ import annotations

from pathlib import Path

SECRET = "sk-test-DO-NOT-LEAK-7f3a9c"
PEOPLE = ["Serena Williams", "Tiger Woods", "Barack Obama"]


def small_args(out: Path, base_url: str, reward_model: Path, **overrides: object) -> list[str]:
    """A run that makes a few pairs per person in seconds; every role talks to the scripted server."""
    options = {
        "out": out,
        "writer_base_url": base_url,
        "sampler_base_url": base_url,
        "judge_base_url": base_url,
        "personal_target": 4,
        "divergent_target": 4,
        "questions_per_request": 6,
        "overgenerate": 1.0,
        "candidates": 5,
        "keep": 4,
        "reward_model": reward_model,
        "concurrency": 8,
        "timeout_s": 0.5,
        "max_retries": 3,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.3,
        "seed": 0,
        **overrides,
    }
    args = [token for key, value in options.items() for token in (f"--{key}", str(value))]
    return [*args, "--people", *PEOPLE]


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every file under root whose bytes contain needle (the cache and manifests included)."""
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]
