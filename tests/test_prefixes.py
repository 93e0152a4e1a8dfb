"""Prefixes baked on the synthetic world: leakage rules, derangements, method names and registered families."""

from __future__ import annotations

import random
import re
import shutil

import pytest

from famous_persona.chat import user_turn
from famous_persona.errors import DataError
from famous_persona.families import FAMILIES, Family, register
from famous_persona.io import DatasetDir, write_jsonl
from famous_persona.methods import parse_method, split_training_set
from famous_persona.wording import default_wording
from sampling.prefixes.bake import LeakageError, bake, bake_records
from sampling.prefixes.bake import main as bake_main
from sampling.prefixes.build import build_prefixes, derangement, write_prefixes
from tests.support.world import METHODS, build_world


def _all_prefixes(world):
    return {method: world.prefixes(method) for method in METHODS}


def test_no_prefix_shows_a_test_pair(world):
    test_ids = {pair.id for pair in world.pairs() if pair.split == "test"}
    for method, prefixes in _all_prefixes(world).items():
        for prefix in prefixes:
            assert not test_ids.intersection(prefix.shots), method
    test_prompts = {pair.prompt for pair in world.pairs() if pair.split == "test"}
    for method in METHODS:
        for row in world.dpo(method, "train") + world.dpo(method, "test"):
            body = row.prompt[-1].content.rsplit("\n\n", 1)[0]
            assert not any(f"Question: {prompt}\n" in body for prompt in test_prompts), (method, row.id)


def test_no_training_row_sees_its_own_pair(world):
    pairs = {pair.id: pair for pair in world.pairs()}
    for method in ("xyw_2s", "xywyl_2s", "xyw_2s_seed1"):
        for row in world.dpo(method, "train"):
            own = pairs[row.id]
            block = f"Question: {own.prompt}\nPreferred answer: {own.chosen}"
            assert block not in row.prompt[-1].content, (method, row.id)


def test_shot_rows_get_their_own_prefix_without_themselves(world):
    prefixes = world.prefixes("xyw_2s")
    per_person = {p.name: p for p in prefixes if p.pair_id is None}
    overrides = [p for p in prefixes if p.pair_id is not None]
    assert overrides and {p.pair_id for p in overrides} == {s for p in per_person.values() for s in p.shots}
    for prefix in overrides:
        assert prefix.pair_id not in prefix.shots and len(prefix.shots) == 2


def test_bake_refuses_a_leaking_prefix(world):
    pairs = world.pairs()
    test_pair = next(pair for pair in pairs if pair.split == "test")
    leaking = [p.model_copy(update={"shots": [test_pair.id]}) for p in world.prefixes("xyw_2s")]
    with pytest.raises(LeakageError, match="test pair"):
        bake_records("xyw_2s", pairs, leaking, "train")
    train_pair = next(pair for pair in pairs if pair.split == "train")
    self_seeing = [
        p.model_copy(update={"shots": [train_pair.id], "pair_id": None})
        for p in world.prefixes("xyw_2s")
        if p.name == train_pair.name and p.pair_id is None
    ]
    with pytest.raises(LeakageError, match="itself"):
        bake_records("xyw_2s", [train_pair], self_seeing, "train")


@pytest.mark.parametrize("field", ["prompt", "chosen", "rejected"])
def test_bake_refuses_a_test_pair_pasted_into_a_prefix_text(world, field):
    pairs = world.pairs()
    test_pair = next(pair for pair in pairs if pair.split == "test")
    pasted = "\n  ".join(getattr(test_pair, field).upper().split())
    prefixes = [
        p.model_copy(update={"text": f"{p.text} {pasted}"}) if p.name == test_pair.name else p
        for p in world.prefixes("persona_gold")
    ]
    with pytest.raises(LeakageError) as leak:
        bake_records("persona_gold", pairs, prefixes, "train")
    message = str(leak.value)
    assert "prefixes/persona_gold.jsonl" in message and repr(test_pair.name) in message and test_pair.id in message


def test_an_answer_sentence_a_train_pair_shares_may_be_shown(world):
    pairs = world.pairs()
    test_pair = next(pair for pair in pairs if pair.split == "test")
    train_pair = next(pair for pair in pairs if pair.split == "train" and pair.name == test_pair.name)
    reused = [pair.model_copy(update={"chosen": test_pair.chosen}) if pair is train_pair else pair for pair in pairs]
    prefixes = [
        p.model_copy(update={"text": f"{p.text} {test_pair.chosen}"}) if p.name == test_pair.name else p
        for p in world.prefixes("persona_gold")
    ]
    assert bake_records("persona_gold", reused, prefixes, "train")
    with pytest.raises(LeakageError, match="chosen answer"):
        bake_records("persona_gold", pairs, prefixes, "train")


def test_bake_command_exits_2_on_a_pasted_test_pair(world, tmp_path, capsys):
    dataset = DatasetDir(shutil.copytree(world.root, tmp_path / "copy"))
    test_pair = next(pair for pair in dataset.pairs() if pair.split == "test")
    prefixes = [
        p.model_copy(update={"text": f"{p.text}\nQuestion: {test_pair.prompt}"}) if p.name == test_pair.name else p
        for p in dataset.prefixes("xyw_2s")
    ]
    write_jsonl(dataset.prefix_path("xyw_2s"), prefixes)
    with pytest.raises(SystemExit) as stop:
        bake_main(["--data", str(dataset.root), "--methods", "xyw_2s"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "question of test pair" in err and test_pair.id in err


def test_seed_redraws_the_shots(world):
    a = {p.name: p.shots for p in world.prefixes("xyw_2s") if p.pair_id is None}
    b = {p.name: p.shots for p in world.prefixes("xyw_2s_seed1") if p.pair_id is None}
    assert a.keys() == b.keys() and a != b


def test_shuffle_is_a_derangement(world):
    gold = {p.name: p.text for p in world.prefixes("persona_gold")}
    shuffled = {p.name: p.text for p in world.prefixes("shuffle_persona_gold")}
    assert shuffled.keys() == gold.keys()
    assert all(shuffled[name] != gold[name] for name in gold)
    assert sorted(shuffled.values()) == sorted(gold.values())


def test_derangement_of_many_draws_never_fixes_a_point():

    names = [str(i) for i in range(5)]
    for seed in range(200):
        mapping = derangement(names, random.Random(seed))
        assert all(mapping[n] != n for n in names) and sorted(mapping.values()) == names


def test_inferred_persona_reveals_only_what_shots_show(world):
    people = {p.name: p for p in world.personas()}
    pairs = {p.id: p for p in world.pairs()}
    for prefix in world.prefixes("persona_xy_4s"):
        revealed = {pairs[s].meta["world_axis"] for s in prefix.shots}
        assert ("Nothing else" in prefix.text) == (len(revealed) < len(people[prefix.name].axes))


def test_methods_grammar():
    assert parse_method("persona_xy_4s_gpt4").model == "gpt4"
    assert parse_method("shuffle_xyw_2s_seed3").shuffle and parse_method("shuffle_xyw_2s_seed3").seed == 3
    assert parse_method("xyw_2s").kind == "passive" and parse_method("persona_gold").kind == "active"
    for bad in ("xyw", "tag_2s", "persona", "xyw_0s"):
        with pytest.raises(DataError):
            parse_method(bad)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("xyw_2s_foo", "unknown suffix '_foo'; xyw is written by the templated backend"),
        ("xyw_2s_bm52", "unknown suffix '_bm52' (did you mean _bm25?)"),
        ("persona_xy_4s_bm52", "unknown suffix '_bm52' (did you mean _bm25?)"),
        ("persona_xy_4s_emd", "(did you mean _emb?)"),
        ("persona_gold_reverce", "(did you mean _reverse?)"),
    ],
)
def test_an_unknown_suffix_is_refused_not_read_as_a_model(name, message):
    with pytest.raises(DataError, match=re.escape(message)):
        parse_method(name)


def test_real_inference_model_names_still_parse():
    models = ("gpt4", "local", "smollm2", "llama321b", "zephyr7b", "ministral8b", "self", "base", "template")
    assert [parse_method(f"persona_xy_4s_{model}").model for model in models] == list(models)


def test_more_shots_than_train_pairs_names_who_and_how_many(world):
    people, pairs = world.personas(), world.pairs()
    train = sum(pair.split == "train" and pair.name == people[0].name for pair in pairs)
    with pytest.raises(DataError, match=f"needs {train + 1} train pairs per person") as caught:
        build_prefixes(f"xyw_{train}s", people, pairs)
    assert f"{people[0].name} ({train})" in str(caught.value) and f"{len(people)} of {len(people)} people" in str(
        caught.value
    )
    with pytest.raises(DataError, match=f"needs {train + 1} train pairs"):
        build_prefixes(f"xyw_{train}s_bm25", people, pairs)
    assert all(len(p.shots) == train - 1 for p in build_prefixes(f"xyw_{train - 1}s", people, pairs))


def test_an_empty_pairs_file_leaves_existing_prefixes_alone(world, tmp_path):
    copy = DatasetDir(shutil.copytree(world.root, tmp_path / "copy"))
    before = copy.prefix_path("xyw_2s").read_bytes()
    copy.pairs_path.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="no pairs to build prefixes from"):
        write_prefixes(copy, ["xyw_2s"])
    assert copy.prefix_path("xyw_2s").read_bytes() == before


@pytest.fixture
def new_families():
    """Two families added the one way there is: a shot list of questions only, and a persona family."""
    asked = register(Family("xq", "passive", shots=True, text=lambda seed, d: _asked(d.shots)))
    persona = register(
        Family("persona_q", "active", shots=True, request=lambda name, shots, wording=None: _asked(shots))
    )
    yield asked, persona
    FAMILIES.pop(asked.name)
    FAMILIES.pop(persona.name)


def _asked(shots):
    return "Asked: " + " | ".join(pair.prompt for pair in shots)


def test_a_registered_family_is_named_built_baked_and_shown(world, new_families):
    people, pairs = world.personas(), world.pairs()
    method = parse_method("shuffle_xq_2s_seed1")
    assert (method.family, method.shots, method.seed, method.kind) == ("xq", 2, 1, "control")
    assert parse_method("xq_3s_bm25").retrieval == "bm25" and parse_method("persona_q_2s").persona
    by_id = {pair.id: pair for pair in pairs}
    prefixes = build_prefixes("xq_2s", people, pairs)
    assert all(p.text == _asked([by_id[i] for i in p.shots]) for p in prefixes)
    assert all(len(p.shots) == 2 for p in prefixes)
    rows = bake_records("xq_2s", pairs, prefixes, "train")
    assert rows and all(row.prompt[0].content.startswith("Asked: ") for row in rows)
    assert user_turn("persona_q_2s", "A persona.", "Q?").startswith(default_wording()["lead_in"])
    assert split_training_set("xq_2s+persona_task_2s_from_persona_q_2s")
    with pytest.raises(DataError, match="does not write persona_q"):
        build_prefixes("persona_q_2s", people, pairs)
    with pytest.raises(DataError, match="xq needs"):
        parse_method("xq")


def test_a_model_written_persona_needs_an_inference_model(world):
    with pytest.raises(DataError, match="inference-models folder"):
        build_prefixes("persona_gold_gpt4", world.personas(), world.pairs())


EVERY_FAMILY = [
    "no_prefix",
    "tag",
    "name",
    "xyw_1s",
    "xywyl_3s",
    "xyw_2s_seed2",
    "xyw_2s_bm25",
    "xywyl_2s_emb_reverse",
    "persona_gold",
    "persona_gold_seed1",
    "persona_xy_1s",
    "persona_xy_5s_seed1",
    "persona_x_2s",
    "persona_xy_2s_bm25",
    "persona_x_2s_emb_reverse",
    "shuffle_tag",
    "shuffle_xyw_2s",
    "shuffle_persona_xy_4s",
    "shuffle_persona_gold_seed1",
]
"""Every §3.2 family the synthetic world writes without a model (model-written ones: test_persona_inference.py)."""


@pytest.mark.slow
def test_every_family_bakes_without_leakage_deterministically(tmp_path):
    dataset = build_world(tmp_path / "all")
    write_prefixes(dataset, EVERY_FAMILY)
    bake(dataset, EVERY_FAMILY)
    people, pairs = dataset.personas(), dataset.pairs()
    test_ids = {pair.id for pair in pairs if pair.split == "test"}
    for method in EVERY_FAMILY:
        prefixes = dataset.prefixes(method)
        assert prefixes == build_prefixes(method, people, pairs), f"{method} is not deterministic"
        assert all(not test_ids.intersection(p.shots) and p.pair_id not in p.shots for p in prefixes), method
        assert len(dataset.dpo(method, "train")) + len(dataset.dpo(method, "test")) == len(pairs), method
        if method.startswith("shuffle_"):
            own = {p.name: p.text for p in dataset.prefixes(method.removeprefix("shuffle_")) if p.pair_id is None}
            assert all(p.text != own[p.name] for p in prefixes), f"{method} left someone their own prefix"
