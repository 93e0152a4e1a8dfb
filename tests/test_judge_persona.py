"""The persona judge on generated responses: both orders, ties and unparseable verdicts recorded, every request
through the cache so that nothing is paid twice, failures named and completed by a re-run."""

from __future__ import annotations

import json

import pytest

from analysis.aggregate import collect
from evaluation.judge_persona import outcome
from evaluation.judge_responses import JudgeArguments, main, run_judge
from famous_persona.io import DatasetDir, write_json, write_jsonl
from tests.support.generation import SECRET, files_containing
from tests.support.scripted_server import FaultPlan, ScriptedServer

PEOPLE = 3


def _generations(world, root):
    """Responses of a pretend run: the chosen answer reworded for the first person, the rejected one for the others
    (never the opponent's own text, so that both orders are distinct requests)."""
    pairs = [pair for pair in DatasetDir(world.root).pairs() if pair.split == "test"]
    names = sorted({pair.name for pair in pairs})[:PEOPLE]
    rows = [
        {
            "id": p.id,
            "name": p.name,
            "question_type": p.question_type,
            "seen": False,
            "fold": 0,
            "response": f"{p.chosen} That is my advice." if p.name == names[0] else p.rejected,
        }
        for p in pairs
        if p.name in names
    ]
    out = root / "exp" / "tiny" / "persona_gold" / "fold0" / "generate" / "persona_gold"
    write_jsonl(out / "generations.jsonl", rows)
    config = dict(data=str(world.root), experiment="exp", model_short="tiny", train_method="persona_gold")
    config.update(test_method="persona_gold", fold=0, fold_scheme="fold")
    write_json(out / "manifest.json", {"stage": "evaluation.generate", "config": config, "status": "finished"})
    return out, rows


def _backend(tmp_path, server) -> str:
    path = tmp_path / "judge.yaml"
    path.write_text(
        f"model: scripted-judge\nbackend: openai\nbase_url: {server.base_url}\nmax_retries: 4\n"
        "backoff_base_s: 0.01\nbackoff_max_s: 0.05\ntimeout_s: 1.0\ntemperature: 0\n"
    )
    return str(path)


@pytest.fixture
def judged(world, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server = ScriptedServer(plan=FaultPlan(rate_limit=15, server_500=15, malformed=10), api_key=SECRET).start()
    out, rows = _generations(world, tmp_path)
    args = JudgeArguments(out=str(out), judge="persona", judge_backend=_backend(tmp_path, server))
    yield args, rows, server, tmp_path
    server.shutdown()


def test_outcome_needs_the_same_preference_in_both_orders():
    assert outcome(1, 2) == "win" and outcome(2, 1) == "loss"
    assert outcome(1, 1) == "tie" and outcome(2, 2) == "tie"
    assert outcome(None, 2) == "unparseable" and outcome(1, None) == "unparseable"


def test_every_response_is_judged_twice_and_nothing_is_paid_twice(judged):
    args, rows, server, root = judged
    summary = run_judge(args)["persona"]
    verdicts = [json.loads(line) for line in (root / args.out / "judge_persona.jsonl").read_text().splitlines()]
    assert len(verdicts) == len(rows) and all(len(v["judge_text"]) == 2 for v in verdicts)
    assert summary["requests"]["sent"] == 2 * len(rows)
    assert server.ledger.summary()["served_twice"] == 0 and server.ledger.summary()["faults"]
    assert sum(summary["outcomes"].values()) == len(rows)
    before = server.ledger.summary()["requests"]
    again = run_judge(args)["persona"]
    assert server.ledger.summary()["requests"] == before, "a re-run must be served from the cache"
    assert again["requests"]["cached"] == 2 * len(rows) and again["outcomes"] == summary["outcomes"]
    results = collect(root / "exp")
    win = results[results["metric"] == "gen_judge_win"]
    assert win["n"].sum() == len(rows) and win["n_correct"].sum() == summary["outcomes"].get("win", 0)
    assert not files_containing(root, SECRET)


def test_position_bias_is_a_tie_not_a_win(judged):
    args, rows, server, _ = judged
    server.plan = FaultPlan(biased=100)
    summary = run_judge(args)["persona"]
    assert summary["outcomes"] == {"tie": len(rows)}
    assert summary["rates"]["all/total"]["gen_judge_win"] == 0.0


def test_failed_requests_are_named_and_a_rerun_sends_only_those(judged, capsys):
    args, rows, server, _ = judged
    server.plan = FaultPlan(poison=30)
    options = ["--out", args.out, "--judge", "persona", "--judge_backend", args.judge_backend]
    with pytest.raises(SystemExit) as stop:
        main(options)
    assert stop.value.code == 2 and "requests failed" in capsys.readouterr().err
    served = server.ledger.summary()["served"]
    assert 0 < served < 2 * len(rows)
    server.plan = FaultPlan()
    summary = run_judge(args)["persona"]
    assert summary["requests"]["sent"] == 2 * len(rows) - served and summary["requests"]["cached"] == served
    assert sum(summary["outcomes"].values()) == len(rows)


def test_the_persona_judge_needs_a_backend(judged):
    args, *_ = judged
    args.judge_backend = None
    with pytest.raises(ValueError, match="--judge_backend"):
        run_judge(args)
