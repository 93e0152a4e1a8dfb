"""A pipeline that survives a real server: an unusable reply is asked again with a new seed (recorded in the cache, so
a rerun from nothing sends the same seeds); a failed transport is resent unchanged; each stage's rule for a reply cut
at the token cap; the words the reports count; `transformers serve` getting sampling switched on; a tokens-per-minute
budget; and concurrency that backs off when the server is overloaded."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import pytest

from famous_persona import judge_prompts
from famous_persona.llm.backend import CUT, EMPTY, Completion, Request, Tally, make_request, reask_seed
from famous_persona.llm.cache import RequestCache, Results, run_cached
from famous_persona.llm.config import BackendConfig
from famous_persona.llm.openai_backend import AdaptiveGate, OpenAIBackend, RetryPolicy, TokenBudget
from sampling.generation import generate, prompts, replies
from sampling.generation.config import GenerateConfig
from sampling.generation.runtime import describe_replies, reply_outcomes, sample_spread
from tests.support.generation import small_args
from tests.support.scripted_server import FaultPlan, ScriptedServer


class GreedyBackend:
    """A deterministic server: the reply depends only on the seed sent; seeds in `empty_for` get an empty reply and
    ids in `down` get no reply at all. It keeps every (id, attempt, seed) it was sent."""

    concurrency = 2

    def __init__(self, empty_for: set[int] = frozenset(), down: set[str] = frozenset()):
        self.empty_for, self.down = set(empty_for), set(down)
        self.sent: list[tuple[str, int, int]] = []

    async def run(self, requests, on_done):
        failures = {}
        for request in requests:
            self.sent.append((request.id, request.attempt, request.seed))
            if request.id in self.down:
                failures[request.id] = "connection"
                continue
            text = "" if request.seed in self.empty_for else f"1. A question drawn with seed {request.seed}?"
            on_done(request, Completion(text, "stop", 5, 7))
        return failures


def _requests(n: int) -> list[Request]:
    return [make_request(f"r{i}", "m", [("user", "Write questions.")], {"seed": 100 + i}, i) for i in range(n)]


def _run(tmp_path, backend, requests, reasks: int, name: str = "cache.sqlite") -> tuple[Results, RequestCache]:
    cache = RequestCache(tmp_path / name)
    return asyncio.run(run_cached(requests, backend, cache, Tally(), reasks=reasks)), cache


def test_an_unusable_reply_is_asked_again_with_a_new_recorded_seed(tmp_path):
    backend = GreedyBackend(empty_for={100})
    results, cache = _run(tmp_path, backend, _requests(2), reasks=2)
    first = _requests(2)[0]
    assert backend.sent == [("r0", 0, 100), ("r1", 0, 101), ("r0", 1, reask_seed(100, 1))]
    assert results.completions["r0"].text.endswith(f"seed {reask_seed(100, 1)}?")
    assert not results.rejected and not results.failures
    assert cache.rejections(first.key) == [(0, 100, EMPTY)]
    stored = cache.get(first.key)
    assert (stored.attempt, stored.seed) == (1, reask_seed(100, 1))


def test_without_reasks_the_next_run_goes_on_from_the_next_seed(tmp_path):
    backend = GreedyBackend(empty_for={100})
    results, _ = _run(tmp_path, backend, _requests(1), reasks=0)
    assert results.rejected == {"r0"} and results.problems == {"r0": EMPTY}
    again, _ = _run(tmp_path, backend, _requests(1), reasks=0)
    assert backend.sent[-1] == ("r0", 1, reask_seed(100, 1)) and not again.rejected


def test_a_rerun_from_nothing_sends_the_same_seeds(tmp_path):
    """The seeds are a function of (seed, attempt): an empty cache replays the same sequence, so the same data."""
    one, two = GreedyBackend(empty_for={100, reask_seed(100, 1)}), GreedyBackend(empty_for={100, reask_seed(100, 1)})
    first, _ = _run(tmp_path, one, _requests(3), reasks=3, name="a.sqlite")
    second, _ = _run(tmp_path, two, _requests(3), reasks=3, name="b.sqlite")
    assert one.sent == two.sent and len(one.sent) == 5
    assert {k: c.text for k, c in first.completions.items()} == {k: c.text for k, c in second.completions.items()}


def test_a_failed_transport_is_resent_unchanged(tmp_path):
    """Nothing came back, so nothing was learnt about that seed: the next run sends the same attempt."""
    backend = GreedyBackend(down={"r0"})
    results, _ = _run(tmp_path, backend, _requests(1), reasks=2)
    assert results.failures == {"r0": "connection"} and backend.sent == [("r0", 0, 100)]
    backend.down.clear()
    _run(tmp_path, backend, _requests(1), reasks=2)
    assert backend.sent[-1] == ("r0", 0, 100)


def _reply(text: str, cut: bool = False) -> Completion:
    return Completion(text, "length" if cut else "stop", 10, 10)


def test_questions_cut_rule_keeps_the_complete_items():
    cut_list = _reply("1. What should I eat before a match?\n2. How do I keep calm on court?\n3. Which sh", cut=True)
    assert replies.questions(cut_list) == ["What should I eat before a match?", "How do I keep calm on court?"]
    assert replies.question_problem(cut_list) is None
    quoted = _reply('She might ask: "What is the best way to recover after a long flight?" and also', cut=True)
    assert replies.questions(quoted) == ["What is the best way to recover after a long flight?"]
    assert replies.question_problem(_reply("A tennis player is someone who plays tennis a lot", cut=True)) == CUT
    assert replies.question_problem(_reply("Tennis is a sport played with rackets.")) == replies.NO_LIST
    assert replies.question_problem(_reply("I'm sorry, but I can't help with that.")) == replies.REFUSED
    assert replies.question_problem(_reply("   ")) == EMPTY


def test_candidates_cut_rule_trims_to_a_sentence_or_asks_again():
    long_cut = _reply("Rest for a full day after each match. Then walk for twenty minutes every morning and", cut=True)
    assert replies.answer(long_cut, None, open_type=False) == "Rest for a full day after each match."
    short_cut = _reply("Rest well. Then walk for twenty minutes every", cut=True)
    check = replies.candidate_check(open_type=False)
    assert replies.answer(short_cut, None, open_type=False) == "" and check(short_cut) == CUT
    full = "Reasoning: many users.\nUser type: a golfer\nAnswer: Practise putting daily. As a golfer you will enjoy it."
    assert replies.answer(_reply(full), "a golfer", open_type=True) == "Practise putting daily."
    assert replies.candidate_check(open_type=True)(_reply("Practise putting daily.")) == replies.NO_ANSWER


@pytest.mark.parametrize("judge_format", ["reasoned", "letter"])
def test_judge_cut_rule_keeps_a_written_verdict(judge_format):
    said = "Preferred: 2 because" if judge_format == "reasoned" else "B, because the second"
    check, final = replies.judge_check(judge_format), replies.judge_accept(judge_format)
    assert replies.verdict(_reply(said, cut=True), judge_format) == 2 and final(_reply(said, cut=True))
    assert check(_reply("Both have merit and", cut=True)) == CUT and not final(_reply("Both have merit and", cut=True))
    assert check(_reply("Both answers have merit.")) == replies.NO_VERDICT and final(_reply("Both answers have merit."))
    assert not final(_reply(""))


def test_the_short_judge_reads_one_letter():
    assert [judge_prompts.parse_letter(t) for t in ("A", "B.", "Answer B", "Option A.", "a good one", "About")] == [
        1,
        2,
        2,
        1,
        None,
        None,
    ]
    text = judge_prompts.short_request("Serena Williams", "Best warm-up?", "Jog.", "Stretch.", " (sports: tennis)")
    assert "Answer A: Jog.\nAnswer B: Stretch.\nSerena Williams (sports: tennis) asked" in text


FIRST = "Hit the court early and practise your serve for an hour before the heat sets in."
SECOND = "Visit a quiet art museum and sketch a painting you like before lunch."


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("The answer that fits best is: Hit the court early and practise your serve for an hour.", 1),
        ("Serena would prefer: visit a quiet art museum and sketch a painting", 2),
        (f"First answer: {FIRST}\nSecond answer: {SECOND}", None),  # an echo of both is no verdict
        ("The answer is the first one.", None),  # no run of the answer's own words
        ("Hit the court early. Visit a quiet art museum.", None),  # one run each: too little to tell
    ],
)
def test_the_copy_judge_reads_which_answer_was_repeated(reply, expected):
    assert judge_prompts.parse_copy(reply, FIRST, SECOND) == expected
    assert replies.verdict(_reply(reply), "copy", FIRST, SECOND) == expected


def test_a_copy_reply_is_final_once_written_and_judged_against_its_answers():
    check, final = replies.judge_check("copy"), replies.judge_accept("copy")
    cut = _reply("Serena would prefer: Hit the court early and practise your", cut=True)
    assert check(cut) is None and final(cut) and replies.verdict(cut, "copy", FIRST, SECOND) == 1
    assert check(_reply("")) == replies.EMPTY and not final(_reply(""))
    text = judge_prompts.copy_request("Serena Williams", "Best warm-up?", "Jog.", "Stretch.", " (sports: tennis)")
    assert text.startswith("Serena Williams (sports: tennis) asked: Best warm-up?") and "Repeat that answer" in text


def test_reply_accounting_names_every_reason():
    requests = _requests(4)
    results = Results(
        {"r0": _reply("ok"), "r1": _reply(""), "r2": _reply("x", cut=True)}, {"r3": "gave up"}, {"r1", "r2"}
    )
    results.problems = {"r1": EMPTY, "r2": CUT}
    outcomes = reply_outcomes(requests, results)
    assert outcomes == Counter({"asked": 4, "usable": 1, EMPTY: 1, CUT: 1, "no reply (retries spent)": 1})
    line = describe_replies({"asked": 4, "usable": 1, "not_usable": {EMPTY: 1, CUT: 1}})
    assert line == "1/4 usable (25%); not usable: empty 1, cut at the length cap 1"


def test_identical_samples_are_noticed():
    """Samples of one prompt with different seeds that all come back identical: the server is not sampling."""
    requests = [make_request(f"q#{i}", "m", [("user", "Ask.")], {"temperature": 0.8, "seed": i}, i) for i in range(3)]
    same = Results({r.id: _reply("the same words") for r in requests}, {})
    varied = Results({r.id: _reply(f"words {i}") for i, r in enumerate(requests)}, {})
    assert sample_spread(requests, same) == Counter(groups=1, identical=1)
    assert sample_spread(requests, varied) == Counter(groups=1, identical=0)


def test_transformers_serve_gets_sampling_switched_on():
    served = BackendConfig(model="m", base_url="http://127.0.0.1:1/v1", server="transformers-serve", temperature=0.7)
    assert json.loads(served.params(0, 1)["generation_config"]) == {"do_sample": True}
    greedy = BackendConfig(model="m", base_url="http://127.0.0.1:1/v1", server="transformers-serve", temperature=0)
    assert "generation_config" not in greedy.params(0, 1)
    assert "generation_config" in greedy.for_server({**greedy.params(0, 1), "temperature": 1.0})
    plain = BackendConfig(model="m", temperature=0.7, base_url="http://127.0.0.1:1/v1")
    assert "generation_config" not in plain.params(0, 1)
    with pytest.raises(ValueError, match="server"):
        GenerateConfig(sampler_server="tgi")


def test_small_prompts_ask_one_thing():
    assert prompts.count_words(1) == "one question" and prompts.count_words(3) == "3 questions, one per line"
    for key in ("prompt_style", "divergent_candidates"):
        with pytest.raises(ValueError, match=key):
            GenerateConfig(**{key: "nope"})


def test_the_token_budget_spaces_requests_and_gives_back_what_was_not_used():
    async def timed() -> tuple[float, float]:
        budget = TokenBudget(per_minute=1200)  # 20 tokens a second, a bucket of 200
        start = time.monotonic()
        await budget.take(200)
        first = time.monotonic() - start
        await budget.take(20)  # the bucket is empty: one second's worth must flow in
        second = time.monotonic() - start
        budget.settle(20, 0)
        await budget.take(20)  # what the reply did not use came back
        return first, second, time.monotonic() - start - second

    first, second, third = asyncio.run(timed())
    assert first < 0.1 and 0.9 <= second < 1.6 and third < 0.1


def test_concurrency_halves_on_overload_and_never_below_one():
    async def walk() -> list[int]:
        gate = AdaptiveGate(8)
        seen = []
        for _ in range(5):
            await gate.overloaded()
            seen.append(gate.limit)
        for _ in range(3):
            await gate.answered()
        seen.append(gate.limit)
        return seen + [gate.lowest]

    assert asyncio.run(walk()) == [4, 2, 1, 1, 1, 3, 1]  # +1 after `limit` replies in a row: 1, then 2


def test_a_server_that_says_429_gets_fewer_requests_in_flight(tmp_path):
    server = ScriptedServer(plan=FaultPlan(rate_limit=30, retry_after_s=0.01)).start()
    tally = Tally()
    backend = OpenAIBackend(server.base_url, concurrency=8, policy=RetryPolicy(max_retries=6, backoff_base_s=0.01))
    backend.tally = tally
    text = prompts.CANDIDATE.format(question="What should I cook tonight?")
    requests = [make_request(f"r{i}", "m", prompts.messages("candidate", text), {"seed": i}, i) for i in range(40)]
    results = asyncio.run(run_cached(requests, backend, RequestCache(tmp_path / "c.sqlite"), tally))
    server.shutdown()
    assert not results.failures and tally.retries["status_429"] > 0
    assert 1 <= tally.lowest_concurrency < 8


def test_the_dry_run_estimates_time_from_a_measured_probe(tmp_path, capsys):
    """Served roles get a time per stage from two timed requests; nothing else is sent and nothing is written."""
    server = ScriptedServer(latency_s=0.05).start()
    out = tmp_path / "data"
    generate.main([*small_args(out, server.base_url, tmp_path / "no-reward"), "--dry_run", "true", "--probe", "true"])
    server.shutdown()
    printed = capsys.readouterr().out
    assert "s per request" in printed and "candidates: at most" in printed and "time on served models" in printed
    assert server.ledger.summary()["requests"] == 2 * 3, "two probe requests per served role, nothing more"
    assert not out.exists()
