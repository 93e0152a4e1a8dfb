"""Training sets `a+b` and the persona-inference task: baking, leakage, determinism, names, and a DPO run on one."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from trl import DPOConfig, ModelConfig

from analysis.figures.style import KINDS, kind
from evaluation.score import ScoreArguments, score
from famous_persona.errors import DataError
from famous_persona.io import read_json
from famous_persona.methods import parse_persona_task, split_training_set
from famous_persona.schema import Prefix
from sampling.prefixes.bake import bake
from sampling.prefixes.build import write_prefixes
from sampling.prefixes.persona_task import task_records
from tests.support.world import CPU_TRAINING, build_world
from training import dpo
from training.run_data import RunArguments, fold_data

MIX = "xyw_2s+persona_gold"
TASK = "persona_task_2s_from_persona_gold"
WITH_TASK = f"xyw_2s+{TASK}_ratio0.5"
SHOT = re.compile(r"\[\d+\] Question: (.*)\nAnswer they preferred: (.*)\nAnswer they turned down: (.*)")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Its own small world (the shared one stays untouched) with the mixes baked."""
    dataset = build_world(tmp_path_factory.mktemp("mixed"))
    write_prefixes(dataset, [MIX, WITH_TASK, TASK])
    bake(dataset, [MIX, WITH_TASK, TASK])
    return dataset


def _task_rows(dataset, name=TASK):
    return [row for row in dataset.dpo(name, "train") if row.question_type == "persona_task"]


def test_mix_is_its_parts_train_rows_in_order(mixed):
    parts = [mixed.dpo_path(part, "train").read_bytes() for part in split_training_set(MIX)]
    assert mixed.dpo_path(MIX, "train").read_bytes() == b"".join(parts)
    assert not mixed.dpo_path(MIX, "test").exists()
    with_task = mixed.dpo(WITH_TASK, "train")
    assert with_task[: len(mixed.dpo("xyw_2s", "train"))] == mixed.dpo("xyw_2s", "train")
    assert {row.question_type for row in with_task[len(mixed.dpo("xyw_2s", "train")) :]} == {"persona_task"}


def test_scoring_a_mix_as_test_method_is_a_clear_error(mixed, tmp_path):
    args = ScoreArguments(model="unused", data=str(mixed.root), test_method=MIX, out=str(tmp_path))
    with pytest.raises(DataError, match="training set .* has no test pairs; test with a single prefix method"):
        score(args)


def test_task_rows_show_only_the_persons_own_train_pairs(mixed):
    pairs = mixed.pairs()
    train = {(p.name, p.prompt, p.chosen, p.rejected) for p in pairs if p.split == "train"}
    train_texts = {text for p in pairs if p.split == "train" for text in (p.prompt, p.chosen, p.rejected)}
    test_only = {text for p in pairs if p.split == "test" for text in (p.prompt, p.chosen, p.rejected)} - train_texts
    rows = _task_rows(mixed)
    assert rows
    for row in rows:
        content = row.prompt[0].content
        shots = SHOT.findall(content)
        assert len(shots) == 2 and len(row.prompt) == 1 and row.prompt[0].role == "user"
        assert all((row.name, *shot) in train for shot in shots)
        assert not [text for text in test_only if text in content]


def test_task_prefers_the_persons_own_persona_over_another(mixed):
    personas = {p.name: p.text for p in mixed.prefixes("persona_gold") if p.pair_id is None}
    for row in _task_rows(mixed):
        assert row.chosen[0].content == personas[row.name]
        assert row.rejected[0].content in {text for name, text in personas.items() if name != row.name}
        assert row.rejected[0].content != row.chosen[0].content
        assert row.axis is None and row.id.startswith("task-")


def test_task_rows_are_byte_identical_on_a_rebake(mixed, tmp_path):
    again = build_world(tmp_path / "again")
    write_prefixes(again, [WITH_TASK])
    bake(again, [WITH_TASK])
    assert again.dpo_path(WITH_TASK, "train").read_bytes() == mixed.dpo_path(WITH_TASK, "train").read_bytes()


def test_ratio_sets_the_rows_per_train_pair(mixed):
    train = Counter(p.name for p in mixed.pairs() if p.split == "train")
    people, pairs, personas = mixed.personas(), mixed.pairs(), mixed.prefixes("persona_gold")
    for suffix, ratio in (("", 1.0), ("_ratio0.5", 0.5), ("_ratio2", 2.0), ("_ratio0.01", 0.01)):
        rows = task_records(parse_persona_task(TASK + suffix), people, pairs, personas).records
        assert Counter(row.name for row in rows) == {name: max(1, round(ratio * n)) for name, n in train.items()}
    assert Counter(row.name for row in _task_rows(mixed, WITH_TASK)) == {n: round(c / 2) for n, c in train.items()}


def test_identical_personas_are_skipped_and_counted(mixed):
    people = mixed.personas()[:2]
    same = [Prefix(name=p.name, method="persona_gold", text="One shared persona.", model="template") for p in people]
    built = task_records(parse_persona_task(TASK), people, mixed.pairs(), same)
    train = sum(p.split == "train" and p.name in {q.name for q in people} for p in mixed.pairs())
    assert built.records == [] and built.skipped == train


def test_manifest_counts_each_part(mixed):
    entry = read_json(mixed.manifest_path)["baked"][WITH_TASK]
    assert entry["train"] == len(mixed.dpo(WITH_TASK, "train"))
    assert [part["part"] for part in entry["parts"]] == split_training_set(WITH_TASK)
    assert entry["parts"][1]["skipped_identical"] == 0


@pytest.mark.parametrize(
    "name, message",
    [
        ("persona_task_4s_from_xyw_2s", "the source must give each person their own persona"),
        ("persona_task_4s_from_shuffle_persona_gold", "the source must give each person their own persona"),
        ("persona_task_4s_from_persona_gold_ratio0", "the ratio above 0"),
        ("persona_task_from_persona_gold", "expected persona_task_"),
        ("a+", "has an empty part"),
        ("xyw_2s+nonsense", "unknown prefix method 'nonsense'"),
    ],
)
def test_bad_training_set_names_are_clear_errors(mixed, name, message):
    with pytest.raises(DataError, match=re.escape(message)):
        split_training_set(name)
    with pytest.raises(DataError, match=re.escape(message)):
        bake(mixed, [name])


def test_prefixes_of_a_mix_are_those_of_its_parts(tmp_path):
    dataset = build_world(tmp_path)
    write_prefixes(dataset, ["xyw_4s+persona_task_2s_from_persona_gold_seed1"])
    assert dataset.prefix_path("xyw_4s").is_file() and dataset.prefix_path("persona_gold_seed1").is_file()
    assert not [path for path in (dataset.root / "prefixes").iterdir() if "+" in path.name]


def test_validation_takes_every_copy_of_a_pair(mixed):
    data = fold_data(RunArguments(data=str(mixed.root), method=MIX, fold=0, val_fraction=0.25), seed=0)
    copies = Counter(row.id for row in [*data.train, *data.validation])
    assert data.validation and set(copies.values()) == {2}
    assert not {row.id for row in data.validation} & {row.id for row in data.train}


def test_mixes_are_their_own_kind_in_plots():
    assert kind(MIX) == kind(WITH_TASK) == "mixed" and kind("xyw_2s") == "passive"
    assert KINDS.index("active") < KINDS.index("mixed") < KINDS.index("control")


@pytest.mark.slow
def test_dpo_on_a_mix_with_the_task_trains_and_scores(mixed, tiny_model, tmp_path):
    run_dir = tmp_path / "tiny" / WITH_TASK / "fold0"
    run = RunArguments(data=str(mixed.root), method=WITH_TASK, fold=0)
    config = DPOConfig(
        output_dir=str(run_dir),
        **CPU_TRAINING,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=16,
        max_length=256,
        num_train_epochs=1,
        learning_rate=1e-3,
    )
    assert any(row.question_type == "persona_task" for row in fold_data(run, config.seed).train)
    dpo.train(run, config, ModelConfig(model_name_or_path=str(tiny_model)))
    manifest = read_json(run_dir / "manifest.json")
    assert manifest["status"] == "finished" and manifest["rows"]["train"] > 0
    score(
        ScoreArguments(
            model=str(run_dir / "model"),
            data=str(mixed.root),
            test_method="xyw_2s",
            fold=0,
            out=str(run_dir / "eval" / "xyw_2s"),
            model_short="tiny",
            train_method=WITH_TASK,
            ref_model=str(tiny_model),
        )
    )
    summary = read_json(run_dir / "eval" / "xyw_2s" / "summary.json")
    assert summary["train_method"] == WITH_TASK and summary["n_pairs"] == len(mixed.dpo("xyw_2s", "test"))


def test_a_task_with_more_shots_than_train_pairs_is_refused(mixed):
    people, pairs, personas = mixed.personas(), mixed.pairs(), mixed.prefixes("persona_gold")
    most = max(Counter(p.name for p in pairs if p.split == "train").values())
    with pytest.raises(DataError, match=f"needs {most + 1} train pairs per person"):
        task_records(parse_persona_task(f"persona_task_{most + 1}s_from_persona_gold"), people, pairs, personas)
