"""VPL recipes for GPU models: generic/vpl.yaml and llama321b/vpl.yaml parse on top of their dpo.yaml, and the
generic pair trains a LoRA VPL model (the tiny model standing in for a real one) that scores with its soft tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.score import ScoreArguments, score
from famous_persona.config import load_yaml, parse_config
from famous_persona.io import read_json
from training import command, vpl

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "experiments" / "configs" / "models"


def _layered(name: str, *extra: str) -> list[str]:
    """dpo.yaml as the config and vpl.yaml's keys as options on top, as the vpl_cv plan passes them."""
    options = [
        item for key, value in load_yaml(RECIPES / name / "vpl.yaml")[0].items() for item in (f"--{key}", str(value))
    ]
    return ["--config", str(RECIPES / name / "dpo.yaml"), *options, *extra]


@pytest.mark.parametrize("name", ["generic", "llama321b"])
def test_vpl_recipe_parses_on_its_dpo_recipe(name):
    with command.library_noise_quieted():
        run, settings, config, model_config = parse_config(vpl.make_parser(), _layered(name))
    assert run.method == "no_prefix" and run.effective_batch_size == 40
    assert settings.history_size == 8 and settings.hidden_dim == 512 and settings.latent_dim == 64
    assert model_config.use_peft and config.beta == 0.01


@pytest.mark.slow
def test_generic_vpl_trains_a_lora_model_and_scores_it(world, tiny_model, tmp_path):
    run_dir = tmp_path / "vpl"
    extra = [
        *("--data", str(world.root), "--fold", "0", "--output_dir", str(run_dir)),
        *("--model_name_or_path", str(tiny_model), "--use_cpu", "true", "--max_steps", "1", "--max_length", "256"),
        *("--report_to", "none", "--disable_tqdm", "true", "--activation_checkpointing", "false"),
    ]
    vpl.main(_layered("generic", *extra))
    manifest = read_json(run_dir / "manifest.json")
    assert manifest["status"] == "finished" and manifest["effective_batch"] == 40
    model = run_dir / "model"
    assert (model / "adapter_model.safetensors").is_file() and (model / "vpl_encoder.safetensors").is_file()
    args = ScoreArguments(
        model=str(model),
        train_method="vpl",
        data=str(world.root),
        test_method="no_prefix",
        fold=0,
        out=str(tmp_path / "eval"),
    )
    summary = score(args)
    assert summary["scorer"] == "vpl" and summary["n_pairs"] == len(world.dpo("no_prefix", "test"))
