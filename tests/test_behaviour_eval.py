"""Behavioural evaluation: responses generated like scoring prompts, judged against the world's ground truth."""

from __future__ import annotations

import json

import pytest

from analysis.aggregate import COLUMNS, collect, main_table
from evaluation import generate as generate_module
from evaluation.generate import GenerateArguments, generate_responses
from evaluation.judge_responses import JudgeArguments, judge_world, run_judge, world_verdict
from famous_persona import world_vocab
from famous_persona.errors import DataError
from famous_persona.io import DatasetDir, write_json, write_jsonl
from planner import plans
from planner.run import RunOptions


def _args(world, model, out, **overrides) -> GenerateArguments:
    base = dict(model=str(model), data=str(world.root), test_method="persona_gold", out=str(out), fold=0)
    return GenerateArguments(**{**base, "max_new_tokens": 4, "batch_size": 8, **overrides})


def _rows(out) -> list[dict]:
    return [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]


def _answer_sentence(axis: str, *keys: str) -> str:
    words = [world_vocab.CATEGORIES[axis][key].answers[0] for key in keys]
    return f"I would pack a {' and a '.join(words)} for the weekend."


def test_world_judge_on_hand_written_responses():
    own, other = (category.key for category in world_vocab.AXES[1].categories[:2])
    axis = world_vocab.AXES[1].name
    assert world_verdict(_answer_sentence(axis, own), axis, own) == "aligned"
    assert world_verdict(_answer_sentence(axis, other), axis, own) == "misaligned"
    assert world_verdict(_answer_sentence(axis, own, other), axis, own) == "mixed"
    assert world_verdict("Have a lovely weekend and rest well.", axis, own) == "off_topic"
    assert world_verdict(_answer_sentence(axis, own).upper(), axis, own) == "aligned"


def test_world_judge_uses_the_persons_category_not_the_chosen_label(world):
    """A flipped pair's chosen answer is the other category; the world's truth is still the person's own."""
    pairs = {pair.id: pair for pair in world.pairs()}
    pair = next(p for p in pairs.values() if p.split == "test")
    rows = [{"id": pair.id, "name": pair.name, "question_type": pair.question_type, "seen": False, "fold": 0}]
    for text, expected in (
        (pair.chosen, pair.meta["chosen_category"]),
        (pair.rejected, pair.meta["rejected_category"]),
    ):
        (verdict,) = judge_world([{**rows[0], "response": text}], world, "persona_gold")
        want = "aligned" if expected == pair.meta["person_category"] else "misaligned"
        assert verdict["verdict"] == want and verdict["metrics"]["gen_world_aligned"] == (want == "aligned")


@pytest.fixture(scope="module")
def generated(world, tiny_model, tmp_path_factory):
    """One single-process run, with every chat handed to the model recorded."""
    chats: list = []
    real = generate_module.generate

    def spy(model, tokenizer, batch, *rest):
        chats.extend(batch)
        return real(model, tokenizer, batch, *rest)

    out = tmp_path_factory.mktemp("generated")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(generate_module, "generate", spy)
        generate_responses(_args(world, tiny_model, out, test_method="xyw_2s"))
    return out, chats


def test_the_prompt_never_contains_the_test_pairs_answers(world, generated):
    _, chats = generated
    records = world.dpo("xyw_2s", "test")
    assert len(chats) == len(records)
    for record, messages in zip(records, chats, strict=True):
        assert messages == [m.model_dump() for m in record.prompt]
        assert messages[-1]["role"] == "user"
        text = "\n".join(message["content"] for message in messages)
        assert record.chosen[0].content not in text and record.rejected[0].content not in text


def test_greedy_generation_is_deterministic_and_equal_across_shards(world, tiny_model, generated, tmp_path):
    one = _rows(generated[0])
    assert [row["id"] for row in one] == [record.id for record in world.dpo("xyw_2s", "test")]
    assert all(row["finish_reason"] in ("stop", "length") and 0 < row["tokens"] <= 4 for row in one)
    two = tmp_path / "two"
    assert generate_responses(_args(world, tiny_model, two, test_method="xyw_2s", num_shards=2, shard_index=1)) is None
    merged = generate_responses(_args(world, tiny_model, two, test_method="xyw_2s", num_shards=2, shard_index=0))
    assert merged == two / "generations.jsonl"
    assert _rows(two) == one
    manifest = json.loads((generated[0] / "manifest.json").read_text())
    assert manifest["greedy"] and manifest["config"]["seed"] == 0 and manifest["status"] == "finished"
    assert not (two / "people").exists()


def test_a_rerun_generates_only_the_people_not_yet_written(world, tiny_model, generated, tmp_path, monkeypatch):
    out = tmp_path / "gen"
    real = generate_module._person_rows
    calls: list[str] = []

    def crash_on_third(model, tokenizer, records, args, seen):
        if len(calls) == 2:
            raise RuntimeError("killed")
        calls.append(records[0].name)
        return real(model, tokenizer, records, args, seen)

    monkeypatch.setattr(generate_module, "_person_rows", crash_on_third)
    with pytest.raises(RuntimeError):
        generate_responses(_args(world, tiny_model, out, test_method="xyw_2s"))
    parts = sorted((out / "people").glob("*.jsonl"))
    assert len(parts) == 2 and all(part.with_suffix(".settings.json").is_file() for part in parts)
    calls.clear()
    monkeypatch.setattr(generate_module, "_person_rows", lambda *a: (calls.append(a[2][0].name), real(*a))[1])
    generate_responses(_args(world, tiny_model, out, test_method="xyw_2s"))
    names = {record.name for record in world.dpo("xyw_2s", "test")}
    assert len(calls) == len(names) - 2
    assert _rows(out) == _rows(generated[0])


def test_only_the_unseen_people_can_be_answered(world, tiny_model, generated, tmp_path):
    generate_responses(_args(world, tiny_model, tmp_path, test_method="xyw_2s", people="unseen"))
    unseen = {person.name for person in world.personas() if person.fold == 0}
    rows = _rows(tmp_path)
    assert {row["name"] for row in rows} == unseen and not any(row["seen"] for row in rows)
    assert rows == [row for row in _rows(generated[0]) if row["name"] in unseen]


def test_judged_rows_aggregate_like_reward_accuracy(world, tmp_path):
    """Hand-written responses: aligned for one person's pairs, off-topic for the rest; results.csv counts them."""
    data = DatasetDir(world.root)
    pairs = [pair for pair in data.pairs() if pair.split == "test"]
    target = pairs[0].name
    rows = []
    for pair in pairs:
        own = pair.meta["person_category"]
        text = _answer_sentence(pair.meta["world_axis"], own) if pair.name == target else "no idea"
        rows.append({"id": pair.id, "name": pair.name, "question_type": pair.question_type, "seen": True, "fold": 1})
        rows[-1]["response"] = text
    out = tmp_path / "exp" / "tiny" / "persona_gold" / "fold1" / "generate" / "persona_gold"
    write_jsonl(out / "generations.jsonl", rows)
    config = dict(data=str(world.root), experiment="exp", model_short="tiny", train_method="persona_gold")
    config.update(test_method="persona_gold", fold=1, fold_scheme="fold")
    write_json(out / "manifest.json", {"stage": "evaluation.generate", "config": config, "status": "finished"})
    run_judge(JudgeArguments(out=str(out), judge="world"))
    results = collect(tmp_path / "exp")
    assert list(results.columns) == COLUMNS
    world_rows = results[results["metric"] == "gen_world_aligned"]
    assert world_rows["n"].sum() == len(pairs)
    per_person = world_rows.groupby("name")["n_correct"].sum()
    assert per_person[target] == sum(pair.name == target for pair in pairs)
    assert per_person.drop(target).sum() == 0
    table = main_table(results, "gen_world_aligned")
    assert table["n_people"].iloc[0] == len({pair.name for pair in pairs})


def test_a_behavioural_plan_generates_and_judges_in_a_folder_of_its_own(world, tmp_path):
    options = RunOptions(plan="cv", smoke=True, data=str(world.root), out=str(tmp_path), methods=["tag"], folds=[0])
    options.behavioural = True
    plan, _, _ = plans.build(options)
    steps = {step.kind: step for step in plan.steps}
    run = tmp_path / "tiny" / "dpo" / "tag" / "fold0"
    out = run / "generate" / "tag"
    assert steps["score"].out == str(run / "eval" / "tag")
    assert (steps["generate"].out, steps["generate"].done) == (str(out), str(out / "manifest.json"))
    assert steps["judge"].args == ["--out", str(out), "--judge", "all"]


def test_a_folder_of_the_old_shared_layout_is_never_taken_for_generations(world, tiny_model, tmp_path):
    """Scores, responses and verdicts once shared <run>/eval/<test_method>: generating or judging there, or counting
    verdicts found there, is refused, naming the scoring manifest."""
    out = tmp_path / "exp" / "tiny" / "none" / "eval" / "persona_gold"
    write_json(out / "manifest.json", {"stage": "evaluation.score", "config": {}, "status": "finished"})
    record = world.dpo("persona_gold", "test")[0]
    row = {"id": record.id, "name": record.name, "question_type": record.question_type, "seen": False, "fold": -1}
    write_jsonl(out / "generations.jsonl", [{**row, "response": "no idea"}])
    refused = r"eval/persona_gold/manifest.json: written by evaluation.score, not evaluation.generate"
    for force in (False, True):
        with pytest.raises(DataError, match=refused):
            generate_responses(_args(world, tiny_model, out, force=force))
    with pytest.raises(DataError, match=refused):
        run_judge(JudgeArguments(out=str(out), judge="world"))
    write_jsonl(out / "judge_world.jsonl", [{**row, "metrics": {"gen_world_aligned": False}}])
    summary = {"experiment": "exp", "model": "tiny", "train_method": "none", "test_method": "persona_gold", "fold": -1}
    write_json(out / "judge_world_summary.json", {**summary, "judge": "world"})
    with pytest.raises(DataError, match=refused):
        collect(tmp_path / "exp")


def test_bad_input_is_one_line_with_exit_2(world, tmp_path, capsys):
    from evaluation.generate import main as generate_main
    from evaluation.judge_responses import main as judge_main

    with pytest.raises(SystemExit) as exit_info:
        generate_main(
            [
                "--model",
                str(tmp_path / "missing"),
                "--data",
                str(world.root),
                "--test_method",
                "persona_gold",
                "--out",
                str(tmp_path / "o"),
            ]
        )
    assert exit_info.value.code == 2
    assert "missing" in capsys.readouterr().err.strip().splitlines()[-1]
    with pytest.raises(SystemExit) as exit_info:
        generate_main(
            ["--model", str(tmp_path), "--data", str(world.root), "--test_method", "nope", "--out", str(tmp_path / "o")]
        )
    assert exit_info.value.code == 2
    assert "unknown prefix method 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        judge_main(["--out", str(tmp_path / "nothing")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "generations.jsonl" in err


def test_reference_judge_prefers_the_answer_the_response_repeats(world):
    from evaluation.judge_responses import judge_reference

    records = world.dpo("persona_gold", "test")[:2]
    rows = []
    for record, side in zip(records, ("chosen", "rejected"), strict=True):
        text = getattr(record, side)[0].content
        rows.append(
            {
                "id": record.id,
                "name": record.name,
                "question_type": record.question_type,
                "seen": False,
                "fold": 0,
                "response": text,
            }
        )
    first, second = judge_reference(rows, world, "persona_gold")
    assert first["metrics"] == {"gen_reference_aligned": True, "gen_reference_rouge_aligned": True}
    assert second["metrics"] == {"gen_reference_aligned": False, "gen_reference_rouge_aligned": False}
    assert first["rouge_chosen"] == pytest.approx(1.0) and second["cosine_rejected"] == pytest.approx(1.0, abs=1e-5)
