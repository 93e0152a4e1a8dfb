"""Benchmark: the candidate stage against the scripted server with a fixed latency per request, once with 1 request
in flight and once with many. Every line printed is `name=value`; the last is `concurrency_speedup=<ratio>`.
Usage: `python -m tests.support.bench_concurrency [--quick] [--latency_s 0.2 --requests 128 --concurrency 32]`.

The stage's config is the project's smoke config (the one made for the scripted server), read through the same loader
and checks as a real run, with only the server, the concurrency and the candidates per question overridden: when the
config's rules change, the benchmark follows them instead of breaking on values of its own. Each timed run is checked
to have sent and kept every request, so a stage that silently drops work cannot pass for a fast one.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import sys
import tempfile
import time
from pathlib import Path

from famous_persona.config import read_config
from famous_persona.io import read_json, write_jsonl
from sampling.generation import candidates as gen_candidates
from sampling.generation.config import GenerateConfig
from sampling.generation.runtime import Context
from tests.support.scripted_server import ScriptedServer

REPO = Path(__file__).resolve().parents[2]
BASE_CONFIG = REPO / "experiments" / "configs" / "generate" / "smoke.yaml"
PER_QUESTION = 8
# requests, concurrency, latency per request (s): the README's figure, and a run of a few seconds for the tests.
SIZES = {"default": (128, 32, 0.2), "quick": (32, 8, 0.05)}


class BenchmarkError(RuntimeError):
    """A timed run did not do the work it was timed for."""


def stage_config(out: str, base_url: str, concurrency: int) -> GenerateConfig:
    """The smoke config with the sampler on `base_url`, no retries (the server injects no faults) and no rate limit."""
    overrides = {
        "out": out,
        "people_table": REPO / "data" / "famous_persona" / "personas.jsonl",
        "sampler_base_url": base_url,
        "concurrency": concurrency,
        "requests_per_minute": 0,
        "max_retries": 0,
        "candidates": PER_QUESTION,
    }
    return read_config(BASE_CONFIG, GenerateConfig, [item for k, v in overrides.items() for item in (f"--{k}", str(v))])


def timed_stage(requests: int, concurrency: int, latency_s: float) -> float:
    """Seconds the candidate stage takes for `requests` requests (a whole number of questions), from an empty cache,
    against a server of its own so that its counts are this run's alone."""
    questions = requests // PER_QUESTION
    server = ScriptedServer(latency_s=latency_s).start()
    try:
        with tempfile.TemporaryDirectory() as root:
            config = stage_config(root, server.base_url, concurrency)
            rows = [
                {"qid": f"p:bench:{i:03d}", "name": "Bench", "axis": None, "question": f"Question {i}?"}
                for i in range(questions)
            ]
            work = Path(root) / "work"
            write_jsonl(work / "personal_questions.jsonl", rows)
            write_jsonl(work / "divergent_questions.jsonl", [])
            chatter = io.StringIO()
            start = time.perf_counter()
            with contextlib.redirect_stdout(chatter):
                gen_candidates.run(Context(config, "candidates"))
            seconds = time.perf_counter() - start
            report = read_json(work / "candidates.report.json")
    finally:
        server.shutdown()
        server.server_close()
    seen = server.ledger.summary()
    sent, kept = report["tally"]["sent"], report["rows"]
    if (sent, seen["requests"], seen["distinct"], kept) != (requests, requests, requests, questions) or report["lost"]:
        raise BenchmarkError(
            f"expected {requests} requests sent once each and {questions} questions kept; the stage sent {sent} and "
            f"kept {kept}, lost {len(report['lost'])}, left out {report['left_out']}; the server saw {seen}; "
            f"the stage said {chatter.getvalue().strip()!r}"
        )
    return seconds


def parse_options(args: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="The small size (seconds); explicit options still win.")
    parser.add_argument("--latency_s", type=float, help="Server latency per request (default 0.2; quick 0.05).")
    parser.add_argument("--requests", type=int, help="Requests per run, a multiple of 8 (default 128; quick 32).")
    parser.add_argument("--concurrency", type=int, help="Requests in flight in the second run (default 32; quick 8).")
    options = parser.parse_args(args)
    requests, concurrency, latency_s = SIZES["quick" if options.quick else "default"]
    options.requests = requests if options.requests is None else options.requests
    options.concurrency = concurrency if options.concurrency is None else options.concurrency
    options.latency_s = latency_s if options.latency_s is None else options.latency_s
    if options.requests < PER_QUESTION or options.requests % PER_QUESTION:
        parser.error(f"--requests must be a positive multiple of {PER_QUESTION} (candidates per question)")
    if options.concurrency < 1 or options.latency_s < 0:
        parser.error("--concurrency must be at least 1 and --latency_s at least 0")
    return options


def main(args: list[str] | None = None) -> None:
    options = parse_options(args)
    try:
        serial = timed_stage(options.requests, 1, options.latency_s)
        parallel = timed_stage(options.requests, options.concurrency, options.latency_s)
    except BenchmarkError as error:
        sys.exit(f"bench_concurrency: {error}")
    # With latency alone to wait for, N in flight finish in ceil(requests / N) rounds instead of `requests`.
    bound = options.requests / math.ceil(options.requests / options.concurrency)
    speedup = serial / parallel
    print(f"requests={options.requests}")
    print(f"latency_s={options.latency_s:g}")
    print(f"concurrency={options.concurrency}")
    print(f"seconds_serial={serial:.3f}")
    print(f"seconds_concurrent={parallel:.3f}")
    print(f"speedup_bound={bound:.1f}")
    print(f"bound_fraction={speedup / bound:.2f}")
    print(f"concurrency_speedup={speedup:.1f}")


if __name__ == "__main__":
    main()
