"""The persona judge's policy: a knockout of any size, both orders asked, ties and unparseable verdicts re-asked up to
the limit and then left out with the reason, never settled at random."""

from __future__ import annotations

import json

import pytest

from famous_persona.io import write_jsonl
from sampling.generation import judge as gen_judge
from sampling.generation.config import GenerateConfig
from sampling.generation.runtime import Context
from tests.support.generation import SECRET
from tests.support.scripted_server import FaultPlan, ScriptedServer


def _judge(tmp_path, monkeypatch, plan: FaultPlan, n_candidates: int, attempts: int = 2):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server = ScriptedServer(plan=plan, api_key=SECRET).start()
    picked = [
        {"sample": i, "user_type": "x", "text": f"Answer number {i} with its own advice.", "reward": 0.1}
        for i in range(n_candidates)
    ]
    rows = [
        {
            "qid": f"p:serenawilliams:{q:03d}",
            "name": "Serena Williams",
            "axis": None,
            "question": f"Question {q}?",
            "picked": picked,
            "band": [0.1, 0.1],
        }
        for q in range(3)
    ]
    write_jsonl(tmp_path / "work" / "filtered.jsonl", rows)
    config = GenerateConfig(
        out=str(tmp_path),
        people=["Serena Williams"],
        judge_base_url=server.base_url,
        judge_attempts=attempts,
        max_retries=0,
    )
    ctx = Context(config, "judge")
    gen_judge.run(ctx)
    server.shutdown()
    return ctx.read("judged"), server.ledger


@pytest.mark.parametrize("n_candidates", [2, 3, 4, 5])
def test_knockout_of_any_size_has_one_winner(tmp_path, monkeypatch, n_candidates):
    judged, ledger = _judge(tmp_path, monkeypatch, FaultPlan(), n_candidates)
    assert len(judged) == 3
    comparisons = n_candidates - 1
    assert ledger.summary()["requests"] == 3 * comparisons * 2
    for row in judged:
        assert row["chosen"] != row["rejected"] and len(row["meta"]["judge"]) == comparisons * 2


def test_position_bias_is_a_tie_and_is_left_out_not_randomised(tmp_path, monkeypatch):
    judged, ledger = _judge(tmp_path, monkeypatch, FaultPlan(biased=100), 4, attempts=2)
    assert judged == []
    report = json.loads((tmp_path / "work" / "judged.report.json").read_text())
    assert len(report["left_out"]) == 3 and all("'tie': 4" in why for why in report["left_out"].values())
    assert ledger.summary()["requests"] == 3 * 2 * 2 * 2


def test_unparseable_verdicts_are_reasked_then_reported(tmp_path, monkeypatch):
    judged, _ = _judge(tmp_path, monkeypatch, FaultPlan(neither=100), 4, attempts=3)
    report = json.loads((tmp_path / "work" / "judged.report.json").read_text())
    assert judged == [] and report["unparseable"] == 3 * 2 * 2 * 3  # tournaments x semi-finals x orders x attempts
