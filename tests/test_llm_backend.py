"""LLM backends: the on-disk cache, the retry policy's pieces, the rate limit, the local transformers backend, the
dry-run estimate, and the parsers and filters the stages rely on."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import time

import httpx2
import numpy as np
import openai
import pytest

from famous_persona import judge_prompts
from famous_persona.config import parse_config
from famous_persona.io import read_json
from famous_persona.llm.backend import Completion, FatalRequestError, Tally, make_request
from famous_persona.llm.cache import RequestCache, run_cached
from famous_persona.llm.config import BACKENDS, register_backend
from famous_persona.llm.local import TransformersBackend
from famous_persona.llm.openai_backend import OpenAIBackend, RateLimiter, RetryPolicy, retry_after
from sampling.generation import generate, prompts
from sampling.generation.config import GenerateConfig
from sampling.generation.dedup import deduplicate
from sampling.generation.filtering import diverse, narrowest_band
from tests.support.scripted_server import ScriptedServer


def _requests(n: int, model: str = "m") -> list:
    text = prompts.CANDIDATE.format(question="What should I cook tonight?")
    return [make_request(f"r{i}", model, prompts.messages("candidate", text), {"seed": i}, i) for i in range(n)]


def test_cache_serves_finished_requests_without_sending(tmp_path):
    server = ScriptedServer().start()
    backend = OpenAIBackend(server.base_url, concurrency=4)
    cache = RequestCache(tmp_path / "cache.sqlite")
    first = asyncio.run(run_cached(_requests(6), backend, cache, Tally()))
    tally = Tally()
    again = asyncio.run(run_cached(_requests(6), backend, cache, tally))
    server.shutdown()
    assert server.ledger.summary()["requests"] == 6 and tally.sent == 0 and tally.cached == 6
    assert {k: c.text for k, c in first.completions.items()} == {k: c.text for k, c in again.completions.items()}
    with sqlite3.connect(tmp_path / "cache.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_invalid_request_is_not_retried(tmp_path):
    server = ScriptedServer().start()
    backend = OpenAIBackend(server.base_url, concurrency=1, policy=RetryPolicy(max_retries=5))
    bad = [make_request("bad", "m", [("user", "not a pipeline task")], {})]
    with pytest.raises(FatalRequestError, match="rejected the request \\(400\\)"):
        asyncio.run(run_cached(bad, backend, RequestCache(tmp_path / "c.sqlite"), Tally()))
    server.shutdown()
    assert server.ledger.faults["invalid_request"] == 1


def test_cache_key_ignores_the_label_but_not_the_sample():
    a, b = _requests(2)
    assert a.key != b.key
    assert make_request("other", a.model, list(a.messages), dict(a.params), a.sample).key == a.key


def test_retry_after_headers():
    def error(headers):
        response = httpx2.Response(429, headers=headers, request=httpx2.Request("POST", "http://x"))
        return openai.RateLimitError("slow", response=response, body=None)

    assert retry_after(error({"retry-after": "2"})) == 2.0
    assert retry_after(error({"retry-after-ms": "250"})) == 0.25
    assert retry_after(error({})) is None
    assert RetryPolicy(backoff_base_s=0.01).delay(0, random.Random(0), 1.5) == 1.5
    assert RetryPolicy(backoff_max_s=1.0).delay(3, random.Random(0), 45.0) == 45.0, "Retry-After beats the cap"
    assert 0 <= RetryPolicy(backoff_base_s=1.0, backoff_max_s=2.0).delay(9, random.Random(0), None) <= 2.0


def test_rate_limit_spaces_request_starts():
    async def starts() -> float:
        limiter = RateLimiter(per_minute=600)
        begin = time.monotonic()
        await asyncio.gather(*(limiter.wait() for _ in range(5)))
        return time.monotonic() - begin

    assert asyncio.run(starts()) >= 0.39


def test_transformers_backend_generates_and_caches(tiny_model, tmp_path):
    backend = TransformersBackend(str(tiny_model), batch_size=2)
    requests = [make_request(f"r{i}", "tiny", [("user", f"question {i}")], {"max_tokens": 6}, i) for i in range(3)]
    cache = RequestCache(tmp_path / "c.sqlite")
    tally = Tally()
    results = asyncio.run(run_cached(requests, backend, cache, tally))
    final = [rid for rid, c in results.completions.items() if c.usable]
    assert tally.sent == 3 and len(cache) == len(final) and not results.failures
    assert results.rejected == set(results.completions) - set(final), "a cut reply must not be cached as final"
    assert all(0 < c.completion_tokens <= 6 and c.prompt_tokens > 0 for c in results.completions.values())
    again = asyncio.run(run_cached(requests, backend, cache, Tally()))
    assert all(c.cached == (rid in final) for rid, c in again.completions.items())


def test_dry_run_estimates_the_full_regeneration(capsys):
    generate.main(["--dry_run", "true"])
    out = capsys.readouterr().out
    judge = next(line for line in out.splitlines() if line.startswith("judge"))
    tournaments = 50 * 150 + 54 * 150  # 54 axis memberships (docs/design.md §14)
    assert int(judge.split()[2]) == tournaments * 6
    assert "total:" in out.splitlines()[-1] and "$" in out


def test_parsers():
    assert judge_prompts.parse_verdict("thinking...\nPreferred: 2") == 2
    assert judge_prompts.parse_verdict("I cannot decide.") is None
    kind, answer = prompts.parse_candidate("Reasoning: x\nUser type: a chef\nAnswer: Use salt. As a chef, enjoy.")
    assert kind == "a chef" and answer == "Use salt."
    assert prompts.parse_list("1. How do I cook rice?\n- What about pasta?\nnot an item") == [
        "How do I cook rice?",
        "What about pasta?",
    ]


def test_dedup_removes_exact_and_near_duplicates():
    kept, exact, near = deduplicate(
        ["How should I plan my week?", "how should I plan my week", "How should I plan my week please?", "Best tea?"],
        threshold=0.7,
    )
    assert kept == ["How should I plan my week?", "Best tea?"] and (exact, near) == (1, 1)


def test_narrowest_band_and_diverse_pick():
    scores = [0.0, 5.0, 5.1, 5.2, 9.0, 5.15]
    assert sorted(narrowest_band(scores, 3)) == [2, 3, 5]
    points = np.array([[0, 0], [0, 0.1], [10, 10], [10, 10.1], [-10, 5]], dtype=float)
    picked = diverse(points, 3, seed=0)
    assert len(picked) == 3 and {2, 3} & set(picked) and 4 in picked


def test_each_role_gets_one_backend_config_overridden_by_its_flat_spelling():
    (config,) = parse_config(
        [GenerateConfig], ["--judge_model", "judge-x", "--sampler_top_p", "0.5", "--concurrency", "3"]
    )
    judge, sampler, writer = config.roles["judge"], config.roles["sampler"], config.roles["writer"]
    assert (judge.model, judge.temperature, sampler.top_p) == ("judge-x", 0.0, 0.5)
    assert {role.concurrency for role in config.roles.values()} == {3}
    assert writer.params(seed=2, sample=1) == {"temperature": 1.0, "max_tokens": 2048, "seed": 2 * 1_000_003 + 1}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--people", "Serena Williams", "--writer_backend", "transformers-x"], "writer: backend must be"),
        (["--people", "Nobody Known"], "no such people ['Nobody Known']"),
        (["--stages", "judging"], "unknown stages ['judging']"),
    ],
)
def test_bad_options_are_clear_errors(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as stop:
        generate.main(["--out", str(tmp_path), *args])
    assert stop.value.code == 2 and message in capsys.readouterr().err


class _Numbered:
    """A toy backend kind: every reply is a numbered list naming the request, written without a server."""

    concurrency = 4

    async def run(self, requests, on_done):
        for request in requests:
            on_done(request, Completion(f"1. What would {request.id} ask first?\n2. And then?", "stop", 3, 9))
        return {}


def test_a_registered_backend_kind_reaches_the_cli_the_outputs_and_the_report(tmp_path, monkeypatch):
    """The extension point of docs/design.md: one `register_backend` call, and `backend: numbered` works from the
    command line (a role's JSON block), its replies become the stage's rows, and the report and manifest name it."""
    monkeypatch.setitem(BACKENDS, "numbered", None)
    register_backend("numbered", lambda config, tally, seed: _Numbered())
    out = tmp_path / "data"
    block = '{"backend": "numbered", "model": "toy-lists"}'
    args = ["--out", str(out), "--people", "Serena Williams", "--stages", "questions", "--writer", block]
    generate.main([*args, "--personal_target", "2", "--divergent_target", "0", "--allow_partial", "true"])
    rows = [json.loads(line) for line in (out / "work" / "personal_questions.jsonl").read_text().splitlines()]
    assert rows and rows[0]["question"] == "What would serenawilliams#0 ask first?"
    report = read_json(out / "work" / "personal_questions.report.json")
    assert report["config"]["roles"]["writer"]["backend"] == "numbered" and report["replies"]["usable"] == 1
    assert read_json(out / "manifest.json")["config"]["roles"]["writer"]["model"] == "toy-lists"


def _served(server: ScriptedServer, stream: bool, tally: Tally, **policy: float) -> tuple[dict, dict]:
    """(replies by request id, failures) of two candidate requests through the openai backend."""
    backend = OpenAIBackend(
        server.base_url, concurrency=2, policy=RetryPolicy(max_retries=0, **policy), tally=tally, stream=stream
    )
    done: dict = {}
    failures = asyncio.run(backend.run(_requests(2), lambda request, reply: done.__setitem__(request.id, reply)))
    return done, failures


def test_a_streamed_reply_is_the_same_reply_with_its_usage():
    server = ScriptedServer().start()
    plain, _ = _served(server, False, Tally())
    streamed, failures = _served(server, True, Tally())
    server.shutdown()
    assert not failures and set(streamed) == {"r0", "r1"}
    for rid, reply in streamed.items():
        assert (reply.text, reply.finish_reason) == (plain[rid].text, "stop")
        assert (reply.prompt_tokens, reply.completion_tokens) == (
            plain[rid].prompt_tokens,
            plain[rid].completion_tokens,
        )


@pytest.mark.slow
def test_streaming_times_the_queue_apart_from_the_generation():
    """A server that holds the first token past `queue_timeout_s` is overloaded (queue_timeout, fewer in flight); one
    that starts at once but writes slowly runs into `timeout_s` (generation_timeout), which is not overload."""
    queued = ScriptedServer(first_token_s=1.0).start()
    tally = Tally()
    _, failures = _served(queued, True, tally, timeout_s=5.0, queue_timeout_s=0.3)
    queued.shutdown()
    assert set(failures) == {"r0", "r1"} and tally.retries["queue_timeout"] == 2 and tally.lowest_concurrency == 1
    slow = ScriptedServer(token_gap_s=0.05).start()  # a reply of about 30 words: 1.5 s of generation
    tally = Tally()
    _, failures = _served(slow, True, tally, timeout_s=0.6, queue_timeout_s=0.3)
    assert set(failures) == {"r0", "r1"} and tally.retries["generation_timeout"] == 2
    assert tally.lowest_concurrency == 2
    done, failures = _served(slow, True, Tally(), timeout_s=10.0, queue_timeout_s=0.3)
    slow.shutdown()
    assert not failures and all(reply.finish_reason == "stop" for reply in done.values())
