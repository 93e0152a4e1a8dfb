"""The original's procedure as options of the pipeline (docs/generation.md): divergent candidates written for the
categories the people on the question's axis hold (every category covered, recorded per candidate), the open user
type as the alternative, and the small prompt style; against the scripted server."""

from __future__ import annotations

import json

import pytest

from famous_persona.io import DatasetDir, read_json, read_jsonl
from famous_persona.schema import Persona
from sampling.generation import candidates, generate, questions
from sampling.generation.config import GenerateConfig
from sampling.generation.runtime import Context
from tests.support.generation import PEOPLE, SECRET, small_args
from tests.support.scripted_replies import USER_TYPES
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


@pytest.mark.slow
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


def test_question_requests_carry_the_persons_axes_and_the_axis_people(tmp_path):
    """As the original's requests did: a personal request names what the person stands for; a divergent request
    names every person of the run on that axis with the category they hold."""
    ctx = Context(GenerateConfig(out=str(tmp_path), people=PEOPLE), "questions")
    by_name = {p.name: p for p in ctx.people()}
    for person in by_name.values():
        text = questions.personal_request(ctx, person)
        assert all(f"{axis}: {category}" in text for axis, category in person.axes.items()), text
        assert "For example" in text
    for axis, held in questions.axis_holders(ctx).items():
        text = questions.divergent_request(ctx, axis, held)
        for category, names in held.items():
            assert all(by_name[n].axes[axis] == category for n in names)
            assert f"{category} ({', '.join(names)})" in text, text


@pytest.mark.slow
def test_two_phase_candidates_answer_for_the_drafted_kind_of_user(tmp_path, reward_model, server, monkeypatch):
    """Each open candidate costs a draft that names a kind of user, then an answer asked for that kind; the
    candidate records the drafted kind; divergent candidates keep their categories (no draft)."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    out = tmp_path / "data"
    generate.main(small_args(out, server.base_url, reward_model, two_phase_candidates=True))
    rows = _candidates(out)
    personal = [c for row in rows if row["axis"] is None for c in row["candidates"]]
    assert personal and all(c["user_type"] in USER_TYPES and "category" not in c for c in personal)
    assert all(c["user_type"] not in c["text"] for c in personal)  # the kind shapes the answer, unnamed
    asked = read_json(out / "work" / "candidates.report.json")["replies"]["asked"]
    n_personal = len((out / "work" / "personal_questions.jsonl").read_text().splitlines())
    n_divergent = len((out / "work" / "divergent_questions.jsonl").read_text().splitlines())
    assert asked == 5 * (2 * n_personal + n_divergent)


def test_too_few_candidates_to_cover_the_categories_is_refused(tmp_path, reward_model, server, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with pytest.raises(SystemExit) as stop:
        generate.main(small_args(tmp_path / "data", server.base_url, reward_model, candidates=1, keep=2, diverse=2))
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "candidates (1)" in err and "'sports': 2" in err


@pytest.mark.slow
def test_open_user_types_for_divergent_questions_too(tmp_path, reward_model, server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    out = tmp_path / "data"
    generate.main(small_args(out, server.base_url, reward_model, divergent_candidates="open"))
    rows = _candidates(out)
    assert all("category" not in c and c["user_type"] for row in rows for c in row["candidates"])


@pytest.mark.slow
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


@pytest.mark.slow
def test_the_copy_judge_makes_pairs_from_repeated_answers(tmp_path, reward_model, server, monkeypatch):
    """The copy form: the judge repeats the answer it prefers; the pair's chosen answer is the one repeated in both
    orders (the scripted judge prefers by content, so both orders agree)."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    out = tmp_path / "data"
    args = small_args(out, server.base_url, reward_model, prompt_style="small", questions_per_request=1)
    generate.main([*args, "--overgenerate", "2.0", "--judge_format", "copy"])
    pairs = DatasetDir(out).pairs()
    assert len(pairs) == len(PEOPLE) * 8
    for pair in pairs:
        final = [t for t in pair.meta["judge"] if t["round"] == max(u["round"] for u in pair.meta["judge"])]
        assert all(pair.chosen in t["text"] and t["verdict"] in (1, 2) for t in final[-2:]), final


@pytest.mark.slow
def test_batched_judge_with_examples_makes_the_same_pairs(tmp_path, reward_model, server, monkeypatch):
    """Batches of one person's comparisons, after a worked example, answered line by line: a judge that prefers by
    content picks the same answers as when asked one comparison at a time."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    single, batched = tmp_path / "single", tmp_path / "batched"
    generate.main(small_args(single, server.base_url, reward_model))
    generate.main(
        [*small_args(batched, server.base_url, reward_model), "--judge_batch", "3", "--judge_examples", "true"]
    )
    chosen = {p.id: p.chosen for p in DatasetDir(single).pairs()}
    pairs = DatasetDir(batched).pairs()
    assert {p.id: p.chosen for p in pairs} == chosen
    assert all(t["request"].startswith("batch|") for p in pairs for t in p.meta["judge"])
    asked = read_json(batched / "work" / "judged.report.json")["tally"]["sent"]
    assert asked < read_json(single / "work" / "judged.report.json")["tally"]["sent"]


def test_batches_and_examples_need_the_reasoned_judge(tmp_path, reward_model, server, capsys):
    args = small_args(tmp_path / "data", server.base_url, reward_model, prompt_style="small", judge_batch=2)
    with pytest.raises(SystemExit) as stop:
        generate.main(args)
    assert (
        stop.value.code == 2 and "judge_batch and judge_examples need judge_format: reasoned" in capsys.readouterr().err
    )


@pytest.mark.slow
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
