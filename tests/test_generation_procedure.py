"""The original's procedure as options of the pipeline (docs/generation.md): divergent candidates written for the
categories the people on the question's axis hold (every category covered, recorded per candidate), the open user
type as the alternative, and the small prompt style; against the scripted server."""

from __future__ import annotations

import json

import pytest

from famous_persona.io import DatasetDir, read_jsonl
from famous_persona.schema import Persona
from sampling.generation import candidates, generate
from sampling.generation.config import Context, GenerateConfig
from tests.support.generation import PEOPLE, SECRET, small_args
from tests.support.scripted_server import FaultPlan, ScriptedServer
from tests.support.tiny_reward import build_tiny_reward_model


@pytest.fixture(scope="module")
def reward_model(tmp_path_factory):
    return build_tiny_reward_model(tmp_path_factory.mktemp("reward"))


@pytest.fixture(scope="module")
def server():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENAI_API_KEY", SECRET)
        served = ScriptedServer(api_key=SECRET).start()
        yield served
        served.shutdown()


def _held() -> dict[str, set[str]]:
    """axis → the categories the test's people hold on it."""
    held: dict[str, set[str]] = {}
    for person in read_jsonl("data/famous_persona/personas.jsonl", Persona):
        if person.name in PEOPLE:
            for axis, category in person.axes.items():
                held.setdefault(axis, set()).add(category)
    return held


def _candidates(out) -> list[dict]:
    return [json.loads(line) for line in (out / "work" / "candidates.jsonl").read_text().splitlines()]


def test_divergent_candidates_cover_every_category_of_the_axis(tmp_path, reward_model, server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    out = tmp_path / "data"
    generate.main(small_args(out, server.base_url, reward_model))
    held = _held()
    divergent = [row for row in _candidates(out) if row["axis"] is not None]
    assert divergent and any(len(held[row["axis"]]) > 1 for row in divergent), "no axis with several categories"
    for row in divergent:
        written = [c["category"] for c in row["candidates"]]
        assert set(written) == held[row["axis"]], (row["qid"], written)
        assert all(isinstance(c["seed"], int) for c in row["candidates"])
    personal = [row for row in _candidates(out) if row["axis"] is None]
    assert personal and all("category" not in c and c["user_type"] for row in personal for c in row["candidates"])
    pairs = [p for p in DatasetDir(out).pairs() if p.question_type == "divergent"]
    assert pairs and all(set(p.meta["categories"].values()) <= held[p.axis] for p in pairs)


def test_the_request_names_the_category_and_the_axis(tmp_path):
    ctx = Context(GenerateConfig(out=str(tmp_path)), "candidates")
    row = {"qid": "d:sports:000", "axis": "sports", "question": "How should I spend a rainy Sunday?"}
    text = candidates.request_text(ctx, row, "golf")
    assert "sports is: golf" in text and text.endswith("Question: How should I spend a rainy Sunday?")
    ctx.config.prompt_style = "small"
    assert "sports is: golf" in candidates.request_text(ctx, row, "golf")


def test_too_few_candidates_to_cover_the_categories_is_refused(tmp_path, reward_model, server, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with pytest.raises(SystemExit) as stop:
        generate.main(small_args(tmp_path / "data", server.base_url, reward_model, candidates=1, keep=2, diverse=2))
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "candidates (1)" in err and "'sports': 2" in err


def test_open_user_types_for_divergent_questions_too(tmp_path, reward_model, server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    out = tmp_path / "data"
    generate.main(small_args(out, server.base_url, reward_model, divergent_candidates="open"))
    rows = _candidates(out)
    assert all("category" not in c and c["user_type"] for row in rows for c in row["candidates"])


def test_the_small_style_runs_end_to_end(tmp_path, reward_model, server, monkeypatch):
    """One question per request, plain answers, one-letter verdicts: the scripted server answers them as a small
    model writes (a question in quotes after a phrase), and the run makes the target."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    out = tmp_path / "data"
    args = small_args(out, server.base_url, reward_model, prompt_style="small", questions_per_request=1)
    generate.main([*args, "--overgenerate", "2.0"])
    pairs = DatasetDir(out).pairs()
    assert len(pairs) == len(PEOPLE) * 8
    assert all(p.meta["judge"][0]["text"] in ("A", "B") for p in pairs)


def test_cut_replies_follow_each_stages_rule(tmp_path, server, monkeypatch):
    """Half the replies cut at a third of their length (each new body, re-asks included, is cut with odds 1/2): a cut
    question list is kept (its complete items) and never asked again; a cut candidate keeps nothing (its answer is
    gone), so it is asked again with a new seed until a whole reply comes; no kept answer ends mid-sentence."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    cutting = ScriptedServer(plan=FaultPlan(truncated=50), api_key=SECRET).start()
    out = tmp_path / "data"
    args = small_args(out, cutting.base_url, tmp_path / "unused-reward", reasks=4)
    generate.main([*args, "--stages", "personas", "questions", "candidates", "--allow_partial", "true"])
    cutting.shutdown()
    assert cutting.ledger.faults["truncated"] > 0
    work = out / "work"
    for stage in ("personal_questions", "divergent_questions"):
        report = json.loads((work / f"{stage}.report.json").read_text())
        assert report["replies"]["usable"] == report["replies"]["asked"] > 0 and report["tally"]["reasked"] == 0
    report = json.loads((work / "candidates.report.json").read_text())
    replies = report["replies"]
    assert report["tally"]["reasked"] > 0 and replies["usable"] >= 0.9 * replies["asked"], report["tally"]
    answers = [c for row in _candidates(out) for c in row["candidates"]]
    assert any(c["seed"] > 10**6 for c in answers), "no answer came from a re-ask"
    assert all(c["text"].rstrip().endswith((".", "!", "?")) for c in answers)
