"""The effective batch is a recipe's invariant: gradient accumulation comes from it, the per-device batch and the
number of processes; a split that does not come out whole is refused with the settings that would. Also: a FSDP run
whose final save wrote no full weights does not count as finished."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from accelerate.utils import FullyShardedDataParallelPlugin
from trl import DPOConfig

from famous_persona.config import parse_config
from famous_persona.errors import DataError
from famous_persona.io import read_json
from training import command, common, dpo, effective_batch

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "experiments" / "configs" / "models"
PAPER_RECIPES = ["llama321b", "llama323b", "zephyr7b", "ministral8b", "generic"]


def _parsed(*args: str) -> tuple:
    with command.library_noise_quieted():
        return parse_config(dpo.make_parser(), ["--config", str(RECIPES / "generic" / "dpo.yaml"), *args])


def _two_processes(monkeypatch) -> None:
    monkeypatch.setattr(DPOConfig, "world_size", property(lambda self: 2))


def _train_args(world, tiny_model, run_dir: Path, *extra: str) -> list[str]:
    return [
        *("--data", str(world.root), "--method", "xyw_2s", "--fold", "0", "--output_dir", str(run_dir)),
        *("--model_name_or_path", str(tiny_model), "--use_cpu", "true", "--bf16", "false", "--max_steps", "1"),
        *("--val_fraction", "0", "--report_to", "none", "--disable_tqdm", "true", "--max_length", "256"),
        *("--effective_batch_size", "40", "--per_device_train_batch_size", "4", *extra),
    ]


@pytest.mark.parametrize("name", PAPER_RECIPES)
def test_paper_recipes_state_the_effective_batch_not_the_accumulation(name):
    recipe = yaml.safe_load((RECIPES / name / "dpo.yaml").read_text())
    assert recipe["effective_batch_size"] == 40 and "gradient_accumulation_steps" not in recipe
    with command.library_noise_quieted():
        run, config, *_ = parse_config(dpo.make_parser(), ["--config", str(RECIPES / name / "dpo.yaml")])
    assert run.effective_batch_size == 40 and config.per_device_train_batch_size == 4


@pytest.mark.slow
def test_one_process_trains_with_forty_over_the_per_device_batch(world, tiny_model, tmp_path):
    run_dir = tmp_path / "run"
    dpo.main(_train_args(world, tiny_model, run_dir))
    manifest = read_json(run_dir / "manifest.json")
    assert manifest["status"] == "finished" and manifest["processes"] == 1
    assert manifest["config"]["DPOConfig"]["gradient_accumulation_steps"] == 10
    assert manifest["config"]["RunArguments"]["effective_batch_size"] == 40
    assert manifest["effective_batch"] == 40


def test_two_processes_halve_the_accumulation(monkeypatch):
    run, config, *_ = _parsed()
    effective_batch.settle_accumulation(run, config)
    assert config.gradient_accumulation_steps == 10
    _two_processes(monkeypatch)
    run, config, *_ = _parsed()
    effective_batch.settle_accumulation(run, config)
    assert config.gradient_accumulation_steps == 5


def test_an_impossible_split_is_refused_with_the_valid_sizes(capsys, tmp_path):
    recipe = RECIPES / "llama321b" / "dpo.yaml"
    args = ["--config", str(recipe), "--per_device_train_batch_size", "3", "--output_dir", str(tmp_path / "run")]
    with pytest.raises(SystemExit) as stopped:
        dpo.main(args)
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.count("\n") == 1 and err.startswith("error: effective_batch_size:")
    assert "per-device sizes that do: 1, 2, 4, 5, 8, 10, 20, 40 (nearest: 2 or 4)" in err
    assert "or keep per-device 3 with effective_batch_size 39 or 42" in err


def test_a_process_count_that_no_size_fits_says_so(monkeypatch):
    monkeypatch.setattr(DPOConfig, "world_size", property(lambda self: 3))
    run, config, *_ = _parsed()
    with pytest.raises(DataError, match="no per-device size does with 3 processes; .* effective_batch_size 36 or 48"):
        effective_batch.settle_accumulation(run, config)


def test_per_device_sizes_for_two_processes(monkeypatch):
    _two_processes(monkeypatch)
    run, config, *_ = _parsed("--per_device_train_batch_size", "8")
    with pytest.raises(DataError, match=r"that do: 1, 2, 4, 5, 10, 20 \(nearest: 10\)"):
        effective_batch.settle_accumulation(run, config)


@pytest.mark.parametrize(("rows", "processes", "per_device"), [(2, 2, 1), (3, 2, 2), (5, 2, 3), (2, 1, 4), (8, 2, 4)])
def test_launched_processes_get_a_batch_their_rows_fill(monkeypatch, caplog, rows, processes, per_device):
    """Two processes with batches of 4 and 2 rows: accelerate would fill both batches by cycling the 2 rows (4x the
    work, each row 4 times in the step), so each process gets a batch of 1; one process, or enough rows, keep 4."""
    monkeypatch.setattr(DPOConfig, "world_size", property(lambda self: processes))
    _, config, *_ = _parsed()
    with caplog.at_level(logging.WARNING):
        effective_batch.fill_without_repeats(config, rows)
    assert config.per_device_train_batch_size == per_device
    assert ("which would repeat them to fill it" in caplog.text) == (per_device != 4)


def test_accumulation_on_the_command_line_wins(caplog):
    args = ["--gradient_accumulation_steps", "2"]
    configs = _parsed(*args)
    with caplog.at_level(logging.WARNING):
        effective_batch.honour_stated_accumulation(configs, args)
    run, config, *_ = configs
    effective_batch.settle_accumulation(run, config)
    assert config.gradient_accumulation_steps == 2 and run.effective_batch_size is None
    assert "effective batch of 8 rows, not the recipe's 40" in caplog.text


def test_a_stated_accumulation_that_agrees_keeps_the_invariant():
    args = ["--gradient_accumulation_steps", "10"]
    configs = _parsed(*args)
    effective_batch.honour_stated_accumulation(configs, args)
    assert configs[0].effective_batch_size == 40


def test_accumulation_given_to_a_training_run_is_used(world, tiny_model, tmp_path):
    run_dir = tmp_path / "run"
    dpo.main(_train_args(world, tiny_model, run_dir, "--gradient_accumulation_steps", "3"))
    manifest = read_json(run_dir / "manifest.json")
    assert manifest["config"]["DPOConfig"]["gradient_accumulation_steps"] == 3 and manifest["effective_batch"] == 12


def test_sharded_fsdp_is_switched_to_full_weights_for_the_final_save():
    plugin = FullyShardedDataParallelPlugin(fsdp_version=2, state_dict_type="SHARDED_STATE_DICT")
    trainer = SimpleNamespace(
        is_fsdp_enabled=True, accelerator=SimpleNamespace(state=SimpleNamespace(fsdp_plugin=plugin))
    )
    common.gather_full_weights(trainer)
    assert "FULL_STATE_DICT" in str(plugin.state_dict_type)
    plain = SimpleNamespace(is_fsdp_enabled=False)
    common.gather_full_weights(plain)


@pytest.mark.slow
def test_a_final_save_without_weights_leaves_the_run_unfinished(world, tiny_model, tmp_path, monkeypatch, capsys):
    """What FSDP's sharded state dict did before: `save_model` wrote nothing into model/."""
    save = dpo.DPOTrainer.save_model

    def sharded_save(self, output_dir=None, _internal_call=False):
        if output_dir is not None and Path(output_dir).name == "model":
            return None
        return save(self, output_dir, _internal_call)

    monkeypatch.setattr(dpo.DPOTrainer, "save_model", sharded_save)
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as stopped:
        dpo.main(_train_args(world, tiny_model, run_dir, "--save_strategy", "steps", "--save_steps", "1"))
    assert stopped.value.code == 2 and "saved no model weights" in capsys.readouterr().err
    assert read_json(run_dir / "manifest.json")["status"] == "running"
    assert list(run_dir.glob("checkpoint-*"))


def test_any_recipe_field_is_overridden_on_the_command_line():
    recipe = RECIPES / "llama321b" / "dpo.yaml"
    overrides = ["--load_in_4bit", "false", "--gradient_accumulation_steps", "5", "--effective_batch_size", "20"]
    overrides += ["--lora_target_modules", "q_proj", "v_proj", "--learning_rate", "1e-5", "--max_length", "1024"]
    with command.library_noise_quieted():
        run, config, model_config, _ = parse_config(dpo.make_parser(), ["--config", str(recipe), *overrides])
    assert not model_config.load_in_4bit and model_config.lora_target_modules == ["q_proj", "v_proj"]
    assert config.gradient_accumulation_steps == 5 and run.effective_batch_size == 20
    assert config.learning_rate == 1e-5 and config.max_length == 1024
    effective_batch.honour_stated_accumulation((run, config), overrides)
    effective_batch.settle_accumulation(run, config)
    assert config.gradient_accumulation_steps == 5 and run.effective_batch_size == 20
