"""Benchmark: the candidate stage against the scripted server with a fixed latency per request, once with 1 request
in flight and once with many; the last line printed is `concurrency_speedup=<ratio>`.
Usage: `python -m tests.support.bench_concurrency [--latency_s 0.2 --requests 128 --concurrency 32]`."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from famous_persona.io import write_jsonl
from sampling.generation import candidates as gen_candidates
from sampling.generation.config import Context, GenerateConfig
from tests.support.scripted_server import ScriptedServer

PER_QUESTION = 8


def timed_stage(base_url: str, requests: int, concurrency: int) -> float:
    """Seconds the candidate stage takes for `requests` requests, starting from an empty cache."""
    with tempfile.TemporaryDirectory() as root:
        config = GenerateConfig(
            out=root,
            sampler_base_url=base_url,
            candidates=PER_QUESTION,
            diverse=1,
            concurrency=concurrency,
            max_retries=0,
        )
        questions = [
            {"qid": f"p:bench:{i:03d}", "name": "Bench", "axis": None, "question": f"Question {i}?"}
            for i in range(requests // PER_QUESTION)
        ]
        write_jsonl(Path(root) / "work" / "personal_questions.jsonl", questions)
        write_jsonl(Path(root) / "work" / "divergent_questions.jsonl", [])
        start = time.perf_counter()
        gen_candidates.run(Context(config, "candidates"))
        return time.perf_counter() - start


def main(args: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency_s", type=float, default=0.2)
    parser.add_argument("--requests", type=int, default=128)
    parser.add_argument("--concurrency", type=int, default=32)
    options = parser.parse_args(args)
    server = ScriptedServer(latency_s=options.latency_s).start()
    serial = timed_stage(server.base_url, options.requests, 1)
    parallel = timed_stage(server.base_url, options.requests, options.concurrency)
    server.shutdown()
    print(f"{options.requests} requests, {options.latency_s * 1000:.0f} ms latency each")
    print(f"1 in flight: {serial:.2f} s; {options.concurrency} in flight: {parallel:.2f} s")
    print(f"concurrency_speedup={serial / parallel:.1f}")


if __name__ == "__main__":
    main()
