"""KTO through the training skeleton: two labelled rows per baked pair under DPO's prompt, a short run that finishes
and scores; and the trainer registry, whose every entry has its module, command and tiny recipe."""

from __future__ import annotations

import ast
import importlib
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from trl import KTOConfig, KTOTrainer, ModelConfig

from evaluation.score import ScoreArguments, score
from famous_persona import chat
from famous_persona.cli import COMMANDS
from famous_persona.config import parse_config
from famous_persona.errors import DataError
from famous_persona.io import read_json
from famous_persona.models import load_model, load_tokenizer
from famous_persona.trainers import TRAINERS, trainer
from tests.support.world import CPU_TRAINING
from training import command, common, kto, run_data

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "experiments" / "configs" / "models"
STAGES = ("training", "sampling", "evaluation", "analysis", "planner")


def test_each_pair_gives_a_desirable_and_an_undesirable_row_under_dpos_prompt(world, tiny_model):
    tokenizer = load_tokenizer(tiny_model)
    records = world.dpo("persona_gold", "train")[:6]
    run = run_data.RunArguments(system_prompt="")
    counted = Counter(), Counter()
    pairs = run_data.to_dataset(records, tokenizer, run, 80, counted[0])
    unpaired = run_data.to_dataset(records, tokenizer, run, 80, counted[1], kto.unpaired_rows)
    assert len(unpaired) == 2 * len(pairs) == 2 * len(records)
    for index, pair in enumerate(pairs):
        good, bad = unpaired[2 * index], unpaired[2 * index + 1]
        assert good["prompt"] == bad["prompt"] == pair["prompt"]
        assert (good["completion"], good["label"]) == (pair["chosen"], True)
        assert (bad["completion"], bad["label"]) == (pair["rejected"], False)
    assert counted[0] == counted[1] and counted[0]["truncated"] > 0, "both cut the same prefixes to fit"


def test_kto_tokenizes_as_scoring_does(world, tiny_model, tmp_path):
    tokenizer = load_tokenizer(tiny_model)
    records = world.dpo("xyw_2s", "train")[:4]
    rows = run_data.to_dataset(records, tokenizer, run_data.RunArguments(), 512, Counter(), kto.unpaired_rows)
    with command.library_noise_quieted():
        config = KTOConfig(output_dir=str(tmp_path), per_device_train_batch_size=2, max_length=512, **CPU_TRAINING)
        trainer_ = KTOTrainer(model=load_model(tiny_model), args=config, train_dataset=rows, processing_class=tokenizer)
    prepared = list(trainer_.train_dataset)
    for index, record in enumerate(records):
        ours = chat.encode(tokenizer, chat.conversation(record))
        good, bad = prepared[2 * index], prepared[2 * index + 1]
        assert good["prompt_ids"] == bad["prompt_ids"] == ours.prompt_ids
        assert (good["completion_ids"], bad["completion_ids"]) == (ours.chosen_ids, ours.rejected_ids)


def _args(world, tiny_model, run_dir: Path, *extra: str) -> list[str]:
    """One epoch of the tiny recipe on 24 pairs (six steps of eight rows), through the command's own options."""
    return (
        ["--config", str(RECIPES / "tiny" / "kto.yaml"), "--data", str(world.root), "--method", "no_prefix"]
        + ["--fold", "0", "--fold_scheme", "fold", "--output_dir", str(run_dir)]
        + ["--model_name_or_path", str(tiny_model)]
        + ["--max_train_pairs", "24", "--per_device_train_batch_size", "8", "--num_train_epochs", "1"]
        + ["--logging_steps", "1", "--report_to", "none", "--disable_tqdm", "true", *extra]
    )


@pytest.fixture(scope="module")
def kto_run(world, tiny_model, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("kto") / "run"
    kto.main(_args(world, tiny_model, run_dir))
    return run_dir


@pytest.mark.slow
def test_a_kto_run_finishes_and_its_model_scores(kto_run, world, tmp_path):
    manifest = read_json(kto_run / "manifest.json")
    assert manifest["status"] == "finished" and manifest["stage"] == "training.kto"
    assert manifest["rows"]["train"] == 24 and manifest["rows"]["validation"] > 0
    assert manifest["config"]["KTOConfig"]["beta"] == 0.1 and manifest["global_step"] == 6  # 48 rows, 8 a batch
    log = [json.loads(line) for line in (kto_run / "train_log.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in log if "loss" in row]
    assert len(losses) == 6 and all(loss > 0 for loss in losses)
    assert not list(kto_run.glob("checkpoint-*"))
    out = tmp_path / "eval"
    args = ScoreArguments(
        model=str(kto_run / "model"), data=str(world.root), test_method="no_prefix", fold=0, out=str(out)
    )
    summary = score(args)
    assert summary["n_pairs"] == len(world.dpo("no_prefix", "test")) and (out / "scores.jsonl").is_file()


@pytest.mark.slow
def test_a_finished_kto_run_is_skipped(kto_run, world, tiny_model):
    before = (kto_run / "manifest.json").read_text()
    with command.library_noise_quieted():
        config = KTOConfig(output_dir=str(kto_run), **CPU_TRAINING)
    kto.train(run_data.RunArguments(data=str(world.root)), config, ModelConfig(model_name_or_path=str(tiny_model)))
    assert (kto_run / "manifest.json").read_text() == before


@pytest.mark.slow
def test_an_interrupted_kto_run_resumes_from_its_checkpoint(world, tiny_model, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    every_two = ("--eval_strategy", "steps", "--eval_steps", "2", "--save_steps", "2", "--save_total_limit", "3")
    with monkeypatch.context() as patch:
        patch.setattr(common, "save_and_finish", lambda *args, **kwargs: None)  # dies once trained, before saving
        kto.main(_args(world, tiny_model, run_dir, *every_two))
    assert read_json(run_dir / "manifest.json")["status"] == "running"
    for step in (4, 6):
        shutil.rmtree(run_dir / f"checkpoint-{step}")
    kto.main(_args(world, tiny_model, run_dir, *every_two))
    manifest = read_json(run_dir / "manifest.json")
    assert manifest["status"] == "finished" and manifest["resumed_from"] == "checkpoint-2"
    assert manifest["global_step"] == 6 and not list(run_dir.glob("checkpoint-*"))


def test_an_unknown_trainer_names_the_known_ones():
    with pytest.raises(DataError) as caught:
        trainer("ppo")
    assert "'ppo'" in str(caught.value) and "dpo, kto, sft, vpl" in str(caught.value)
    assert trainer("kto").rows == "unpaired"


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_every_trainer_has_its_module_command_and_tiny_recipe(name):
    entry = trainer(name)
    module = importlib.import_module(entry.module)
    assert entry.module in {stage for stage, _ in COMMANDS.values()}
    recipe = RECIPES / "tiny" / entry.recipe
    assert recipe.is_file()
    with command.library_noise_quieted():
        parse_config(module.make_parser(), ["--config", str(recipe)])


def test_generic_kto_recipe_parses():
    with command.library_noise_quieted():
        _, config, model_config = parse_config(kto.make_parser(), ["--config", str(RECIPES / "generic" / "kto.yaml")])
    assert model_config.use_peft and config.beta == 0.1


def test_the_registry_imports_no_stage():
    tree = ast.parse((ROOT / "famous_persona" / "trainers.py").read_text())
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert not [name for name in imported if name.split(".")[0] in STAGES]
