"""Both scorers against an independent recomputation from the model's logits; the tie policy; truncation counts;
the fold check scoring shares with training; merging only shards scored alike."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from evaluation import shards
from evaluation.score import ScoreArguments, score, scoring_settings
from famous_persona.errors import DataError
from famous_persona.io import DatasetDir, read_json, write_json, write_jsonl
from famous_persona.metrics import is_correct, margin
from famous_persona.models import load_model, load_tokenizer
from famous_persona.personas import FoldError, split_people
from training.run_data import RunArguments, fold_data


def _independent_logp(model, tokenizer, prompt_messages, answer: str) -> tuple[float, int]:
    """Straight from the logits of one unpadded sequence, in float64, token by token."""
    full = tokenizer.apply_chat_template(
        prompt_messages + [{"role": "assistant", "content": answer}], tokenize=True, return_dict=True
    )["input_ids"]
    prompt = tokenizer.apply_chat_template(
        prompt_messages, tokenize=True, add_generation_prompt=True, return_dict=True
    )["input_ids"]
    assert full[: len(prompt)] == prompt
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([full])).logits[0].double()
    total = 0.0
    for position in range(len(prompt), len(full)):
        total += torch.log_softmax(logits[position - 1], dim=-1)[full[position]].item()
    return total, len(full) - len(prompt)


@pytest.mark.parametrize("scorer", ["fast", "naive"])
def test_ref_free_avg_matches_an_independent_recomputation(world, tiny_model, tmp_path, scorer):
    out = tmp_path / "eval"
    args = ScoreArguments(model=str(tiny_model), data=str(world.root), test_method="xyw_2s", out=str(out), batch_size=7)
    args.scorer = scorer
    summary = score(args)
    assert summary["scorer"] == scorer
    rows = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    records = {r.id: r for r in world.dpo("xyw_2s", "test")}
    assert len(rows) == len(records)
    model, tokenizer = load_model(tiny_model), load_tokenizer(tiny_model)
    agree = 0
    for row in rows:
        record = records[row["id"]]
        prompt = [m.model_dump() for m in record.prompt]
        chosen = _independent_logp(model, tokenizer, prompt, record.chosen[0].content)
        rejected = _independent_logp(model, tokenizer, prompt, record.rejected[0].content)
        assert abs(chosen[0] - row["chosen_logp"]) < 1e-4 and chosen[1] == row["chosen_tokens"]
        assert abs(rejected[0] - row["rejected_logp"]) < 1e-4 and rejected[1] == row["rejected_tokens"]
        agree += (chosen[0] / chosen[1] > rejected[0] / rejected[1]) == is_correct(row, "ref_free_avg")
    assert agree == len(rows)
    independent_accuracy = sum(is_correct(row, "ref_free_avg") for row in rows) / len(rows)
    assert summary["accuracy"]["ref_free_avg"]["all/total"]["accuracy"] == independent_accuracy


def test_prompt_only_scoring_marks_everyone_unseen(world, tiny_model, tmp_path):
    summary = score(ScoreArguments(model=str(tiny_model), data=str(world.root), test_method="name", out=str(tmp_path)))
    assert summary["fold"] == -1 and summary["train_method"] == "none"
    assert set(summary["accuracy"]["ref_free_avg"]) == {
        "all/divergent",
        "all/personal",
        "all/total",
        "unseen/divergent",
        "unseen/personal",
        "unseen/total",
    }
    assert "dpo_ref" not in summary["accuracy"] or not summary["accuracy"]["dpo_ref"]


def test_ties_count_as_wrong():
    row = {"chosen_logp": -4.0, "chosen_tokens": 2, "rejected_logp": -4.0, "rejected_tokens": 2}
    assert margin(row, "ref_free_avg") == 0 and not is_correct(row, "ref_free_avg")
    assert not is_correct(row, "ref_free_sum")
    row.update(ref_chosen_logp=-5.0, ref_rejected_logp=-5.0)
    assert not is_correct(row, "dpo_ref")
    longer = {"chosen_logp": -6.0, "chosen_tokens": 3, "rejected_logp": -5.0, "rejected_tokens": 2}
    assert is_correct(longer, "ref_free_avg") and not is_correct(longer, "ref_free_sum")


def test_prefix_longer_than_the_context_is_cut_logged_and_counted(world, tiny_model, tmp_path):
    copy = DatasetDir(shutil.copytree(world.root, tmp_path / "copy"))
    records = copy.dpo("persona_gold", "test")
    long_one = records[0].prompt[-1].content
    records[0] = records[0].model_copy(
        update={"prompt": [records[0].prompt[-1].model_copy(update={"content": "word " * 600 + long_one})]}
    )
    write_jsonl(copy.dpo_path("persona_gold", "test"), records)
    out = tmp_path / "eval"
    summary = score(
        ScoreArguments(model=str(tiny_model), data=str(copy.root), test_method="persona_gold", out=str(out))
    )
    assert summary["truncated"] == 1
    assert read_json(out / "summary.json")["truncated"] == 1
    assert summary["n_pairs"] == len(records)


def test_finished_scores_are_skipped_unless_forced(world, tiny_model, tmp_path):
    args = ScoreArguments(model=str(tiny_model), data=str(world.root), test_method="tag", out=str(tmp_path))
    assert score(args) is not None
    assert score(args) is None
    args.force = True
    assert score(args) is not None


def test_text_settings_not_given_come_from_the_trained_run(tmp_path):
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    config = {"DPOConfig": {"beta": 0.05, "max_length": 64}, "RunArguments": {"system_prompt": "Be brief."}}
    write_json(run / "manifest.json", {"config": config, "status": "finished"})
    base = dict(model=str(run / "model"), data="d", test_method="tag", out="o")
    filled, _ = scoring_settings(ScoreArguments(**base))
    assert (filled.beta, filled.max_length, filled.system_prompt) == (0.05, 64, "Be brief.")
    given, _ = scoring_settings(ScoreArguments(**base, beta=0.2, max_length=128, system_prompt=""))
    assert (given.beta, given.max_length, given.system_prompt) == (0.2, 128, "")
    bare, _ = scoring_settings(ScoreArguments(**{**base, "model": str(tmp_path / "hub-like")}))
    assert (bare.beta, bare.max_length, bare.system_prompt) == (0.1, 512, None)


def test_rows_name_their_run_and_texts_only_with_log_samples(world, tiny_model, tmp_path):
    base = dict(model=str(tiny_model), data=str(world.root), test_method="name", model_short="tiny")
    score(ScoreArguments(**base, out=str(tmp_path / "plain")))
    score(ScoreArguments(**base, out=str(tmp_path / "logged"), log_samples=True))
    plain, logged = (
        [json.loads(x) for x in (tmp_path / d / "scores.jsonl").read_text().splitlines()] for d in ("plain", "logged")
    )
    assert {(r["model"], r["train_method"], r["test_method"]) for r in plain} == {("tiny", "none", "name")}
    assert not {"prompt", "chosen", "rejected"} & set(plain[0])
    records = {r.id: r for r in world.dpo("name", "test")}
    for row in logged:
        assert row["chosen"][-1]["content"] == records[row["id"]].chosen[0].content
        assert row["prompt"][-1]["role"] == "user"


@pytest.mark.parametrize(
    ("fold", "train_method", "problem"),
    [
        (7, "none", "fold 7 has no people"),
        (-2, "none", "fold -2 does not exist"),
        (-1, "xyw_2s", "fold -1 .* only for prompt-only scores of an untrained model"),
    ],
)
def test_scoring_refuses_a_fold_training_refuses(world, tiny_model, tmp_path, fold, train_method, problem):
    args = ScoreArguments(model=str(tiny_model), data=str(world.root), test_method="tag", out=str(tmp_path), fold=fold)
    args.train_method = train_method
    with pytest.raises(FoldError, match=problem):
        score(args)
    if fold != -1:
        with pytest.raises(FoldError, match=problem):
            fold_data(RunArguments(data=str(world.root), method="tag", fold=fold), seed=0)
    assert not (tmp_path / "scores.jsonl").exists()


def test_only_an_untrained_model_may_take_fold_minus_one(world):
    people = world.personas()
    assert split_people(people, -1, prompt_only=True) == ([], [p.name for p in people])
    with pytest.raises(FoldError, match="fold -1 .* only for prompt-only"):
        split_people(people, -1)


def test_a_merge_refuses_shards_scored_with_other_settings(world, tmp_path):
    records = world.dpo("tag", "test")
    rows = [{"id": r.id} for r in records]
    half = len(rows) // 2
    settings = {"model": "a", "beta": 0.1, "test_file_sha256": "x"}
    shards.write_shard(tmp_path, 0, 2, rows[:half], settings)
    shards.write_shard(tmp_path, 1, 2, rows[half:], {**settings, "model": "b"})
    with pytest.raises(DataError, match=r"1-of-2.settings.json: .*\(model 'b' there, 'a' here\)"):
        shards.merge(tmp_path, records, 2, settings)
    shards.write_shard(tmp_path, 1, 2, rows[half:], settings)
    assert shards.merge(tmp_path, records, 2, settings) == rows


def test_shards_of_one_output_scored_with_another_beta_are_not_merged(world, tiny_model, tmp_path):
    common = dict(model=str(tiny_model), data=str(world.root), test_method="tag", out=str(tmp_path), num_shards=2)
    assert score(ScoreArguments(**common, shard_index=1, beta=0.5)) is None
    with pytest.raises(DataError, match="1-of-2.settings.json: .*beta 0.5 there, 0.1 here"):
        score(ScoreArguments(**common, shard_index=0, batch_size=8))
    assert not (tmp_path / "summary.json").exists()


def test_a_subset_per_person_is_spread_over_their_pairs_and_recorded(world, tiny_model, tmp_path):
    records = world.dpo("xyw_2s", "test")
    args = ScoreArguments(model=str(tiny_model), data=str(world.root), test_method="xyw_2s", out=str(tmp_path / "a"))
    args.pairs_per_person = 2
    summary = score(args)
    rows = [json.loads(line) for line in (tmp_path / "a" / "scores.jsonl").read_text().splitlines()]
    people = {r.name for r in records}
    assert summary["pairs_per_person"] == 2 and summary["n_pairs"] == len(rows) == 2 * len(people)
    for name in people:
        own = [r.id for r in records if r.name == name]
        assert [row["id"] for row in rows if row["name"] == name] == [own[0], own[len(own) // 2]]
    full = score(
        ScoreArguments(model=str(tiny_model), data=str(world.root), test_method="xyw_2s", out=str(tmp_path / "b"))
    )
    assert "pairs_per_person" not in full and full["n_pairs"] == len(records)
