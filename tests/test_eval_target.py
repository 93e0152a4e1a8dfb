"""One evaluation target: generation, scoring, attribution and the benchmark settle model, system turn, maximum
length, precision and device from the trained run through `famous_persona.eval_target`; an explicit value wins, a
contradiction of the run is refused in one line; generation's parts merge only when made with the same settings."""

from __future__ import annotations

import json

import pytest

from evaluation import generate as generate_module
from evaluation.generate import GenerateArguments, generate_responses
from evaluation.score import ScoreArguments, scoring_settings
from famous_persona import chat, decoding
from famous_persona.errors import DataError
from famous_persona.eval_target import EvalArguments, resolve_target, settle
from famous_persona.io import read_json
from famous_persona.models import load_tokenizer
from tests.support.trained_run import trained_run


def _generate(world, model, out, **options) -> GenerateArguments:
    base = dict(model=model, data=str(world.root), test_method="xyw_2s", out=str(out), fold=0)
    return GenerateArguments(**{**base, "train_method": "xyw_2s", "max_new_tokens": 2, "batch_size": 8, **options})


@pytest.fixture
def generation_inputs(monkeypatch):
    """Every list of token ids response generation hands the model, taken where `famous_persona.decoding` tokenizes."""
    seen: list[list[int]] = []
    real = decoding.chat_ids

    def spy(tokenizer, messages, system_prompt):
        ids = real(tokenizer, messages, system_prompt)
        seen.append(ids)
        return ids

    monkeypatch.setattr(decoding, "chat_ids", spy)
    return seen


def test_generation_from_a_run_trained_with_an_empty_system_turn_uses_it(
    world, tiny_model, tmp_path, generation_inputs
):
    model = trained_run(tmp_path, tiny_model)
    generate_responses(_generate(world, model, tmp_path / "gen", people="unseen"))
    tokenizer = load_tokenizer(model)
    unseen = [r for r in world.dpo("xyw_2s", "test") if r.name in {p.name for p in world.personas() if p.fold == 0}]
    wanted = [
        tokenizer.apply_chat_template(
            [{"role": "system", "content": ""}, *[m.model_dump() for m in r.prompt]],
            tokenize=True,
            add_generation_prompt=True,
            return_dict=True,
        )["input_ids"]
        for r in unseen
    ]
    assert sorted(map(tuple, generation_inputs)) == sorted(map(tuple, wanted))
    system, eos = tokenizer.convert_tokens_to_ids("<|system|>"), tokenizer.eos_token_id
    assert all(ids[1:3] == [system, eos] for ids in generation_inputs)
    config = read_json(tmp_path / "gen" / "manifest.json")["config"]
    assert (config["system_prompt"], config["max_length"], config["dtype"]) == ("", 256, "float32")


def test_an_explicit_value_wins_over_the_runs(world, tiny_model, tmp_path, generation_inputs):
    model = trained_run(tmp_path, tiny_model)
    args = _generate(world, model, tmp_path / "gen", people="unseen", system_prompt="Answer briefly.", max_length=128)
    settled, target = settle(args)
    assert (settled.system_prompt, settled.max_length, target.base_model) == ("Answer briefly.", 128, str(tiny_model))
    generate_responses(args)
    tokenizer = load_tokenizer(model)
    wanted = {
        tuple(chat.generation_prompt_ids(tokenizer, [m.model_dump() for m in r.prompt], "Answer briefly."))
        for r in world.dpo("xyw_2s", "test")
    }
    assert generation_inputs and set(map(tuple, generation_inputs)) <= wanted
    assert all(ids[2] != tokenizer.eos_token_id for ids in generation_inputs)
    untemplated, _ = settle(_generate(world, model, tmp_path / "none", system_prompt=None))
    assert untemplated.system_prompt is None


def test_scoring_and_generation_settle_the_same_target(tiny_model, tmp_path):
    model = trained_run(tmp_path, tiny_model)
    common = dict(model=model, data="d", test_method="xyw_2s", out="o", fold=0, train_method="xyw_2s")
    scored, scoring_target = scoring_settings(ScoreArguments(**common))
    generated, generation_target = settle(GenerateArguments(**common))
    assert scoring_target == generation_target and scored.beta == 0.05
    shared = [f.name for f in EvalArguments.__dataclass_fields__.values()]
    assert {k: getattr(scored, k) for k in shared} == {k: getattr(generated, k) for k in shared}


@pytest.mark.parametrize(
    ("options", "field"),
    [({"base_model": "HuggingFaceTB/SmolLM2-135M-Instruct"}, "base_model"), ({"fold": 1}, "fold")],
)
def test_a_value_that_contradicts_the_run_is_refused(tiny_model, tmp_path, options, field):
    model = trained_run(tmp_path, tiny_model)
    args = EvalArguments(model=model, data="d", test_method="xyw_2s", out="o", fold=0, train_method="xyw_2s")
    with pytest.raises(DataError, match=rf"run/manifest.json: {field}: the run was trained with"):
        resolve_target(EvalArguments(**{**vars(args), **options}))
    same = resolve_target(EvalArguments(**{**vars(args), "base_model": str(tiny_model) + "/"}))
    assert same.base_model == str(tiny_model) + "/"
    assert resolve_target(EvalArguments(**{**vars(args), "fold": 1, "train_method": "none"})).run is not None


def test_a_contradiction_on_the_command_line_is_one_line_with_exit_2(world, tiny_model, tmp_path, capsys):
    model = trained_run(tmp_path, tiny_model)
    argv = ["--model", model, "--data", str(world.root), "--test_method", "xyw_2s", "--out", str(tmp_path / "o")]
    argv += ["--train_method", "xyw_2s", "--fold", "0", "--base_model", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_info:
        generate_module.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1
    assert "manifest.json: base_model: the run was trained with" in err[0]


def test_generation_parts_made_with_other_settings_are_not_merged(world, tiny_model, tmp_path):
    out = tmp_path / "gen"
    assert generate_responses(_generate(world, str(tiny_model), out, train_method="none", num_shards=2)) is None
    other = _generate(world, str(tiny_model), out, train_method="none", num_shards=2, shard_index=1, max_new_tokens=3)
    with pytest.raises(DataError, match=r"people/\w+\.settings\.json: .*max_new_tokens 2 there, 3 here"):
        generate_responses(other)
    assert not (out / "generations.jsonl").exists()
    again = _generate(world, str(tiny_model), out, train_method="none", max_new_tokens=3)
    with pytest.raises(DataError, match=r"settings\.json: .*make it again with these"):
        generate_responses(again)
    redo = _generate(world, str(tiny_model), out, train_method="none", num_shards=2, shard_index=1, force=True)
    assert generate_responses(redo) == out / "generations.jsonl"
    rows = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    assert len(rows) == len(world.dpo("xyw_2s", "test")) and not (out / "people").exists()


def test_the_benchmark_and_attribution_take_the_same_target(tiny_model, tmp_path):
    from analysis.attribution import AttributionArguments
    from evaluation.benchmark import BenchmarkArguments

    model = trained_run(tmp_path, tiny_model)
    for args in (AttributionArguments(model=model), BenchmarkArguments(model=model)):
        settled, _ = settle(args)
        assert (settled.system_prompt, settled.max_length, settled.dtype) == ("", 256, "float32")


def test_encode_modes_on_the_tiny_template(world, tiny_model):
    tokenizer = load_tokenizer(tiny_model)
    conv = chat.conversation(world.dpo("xyw_2s", "test")[0], tokenizer, 512)
    trl, original = chat.encode(tokenizer, conv), chat.encode(tokenizer, conv, "original")
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    assert trl.prompt_ids[:2] != [bos, bos] and trl.prompt_ids[0] == bos
    assert original.prompt_ids == [bos, *trl.prompt_ids] and original.prompt_ids[:2] == [bos, bos]
    for plain, added in ((trl.chosen_ids, original.chosen_ids), (trl.rejected_ids, original.rejected_ids)):
        assert plain[-1] == eos and plain[-2:] != [eos, eos]
        assert added == [*plain, eos] and added[-2:] == [eos, eos]
    with pytest.raises(DataError, match="tokenization must be one of"):
        chat.encode(tokenizer, conv, "reward-bench")


@pytest.fixture(scope="module")
def smollm2_tokenizer(smollm2):
    return load_tokenizer(smollm2)


def test_encode_modes_on_smollm2s_chatml_template(world, smollm2_tokenizer):
    tokenizer = smollm2_tokenizer
    conv = chat.conversation(world.dpo("persona_gold", "test")[0], tokenizer, 512, "")
    trl, original = chat.encode(tokenizer, conv), chat.encode(tokenizer, conv, "original")
    start, end = tokenizer.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"])
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id) == (start, end)
    assert trl.prompt_ids[0] == start and trl.prompt_ids[1] != start
    assert original.prompt_ids == [start, *trl.prompt_ids] and original.prompt_ids[:2] == [start, start]
    newline = tokenizer("\n", add_special_tokens=False)["input_ids"]
    for plain, added in ((trl.chosen_ids, original.chosen_ids), (trl.rejected_ids, original.rejected_ids)):
        assert plain[-1 - len(newline) :] == [end, *newline] and plain.count(end) == 1
        assert added == [*plain, end] and added[-2 - len(newline) :] == [end, *newline, end]


def test_the_mode_is_recorded_and_never_pooled(world, tiny_model, tmp_path):
    from analysis.aggregate import collect
    from evaluation.score import score

    common = dict(model=str(tiny_model), data=str(world.root), test_method="tag", model_short="tiny", experiment="x")
    trl = score(ScoreArguments(**common, out=str(tmp_path / "x" / "tiny" / "none" / "eval" / "tag")))
    out = tmp_path / "x" / "tiny" / "none" / "eval_original" / "tag"
    original = score(ScoreArguments(**common, out=str(out), tokenization="original"))
    assert (trl["tokenization"], trl["model"]) == ("trl", "tiny")
    assert (original["tokenization"], original["model"]) == ("original", "tiny@original")
    assert read_json(out / "manifest.json")["config"]["tokenization"] == "original"
    assert {json.loads(line)["model"] for line in (out / "scores.jsonl").read_text().splitlines()} == {"tiny@original"}
    results = collect(tmp_path / "x")
    assert set(results["model"]) == {"tiny", "tiny@original"}
    assert results.groupby("model")["n"].sum().nunique() == 1
    sharded = dict(common, out=str(tmp_path / "shards"), num_shards=2)
    assert score(ScoreArguments(**sharded, shard_index=1, tokenization="original")) is None
    with pytest.raises(DataError, match="tokenization 'original' there, 'trl' here"):
        score(ScoreArguments(**sharded, shard_index=0))
