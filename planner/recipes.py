"""A base model as the experiments name it: a recipe (`experiments/configs/models/<name>/`), a local model folder or a
hub id (both on the generic recipe); the text settings its training uses; and the base weights themselves."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from famous_persona.config import load_yaml
from famous_persona.errors import DataError
from planner import warm

CONFIGS = Path("experiments/configs")
INFERENCE = CONFIGS / "inference"
"""The inference models that persona_*_<model> prefixes name, one <model>.yaml each (--inference_models)."""
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ModelChoice:
    """`short` names the model in run paths and results; `recipe` is its folder of YAML recipes; `path` the weights
    when they are not the recipe's own (a folder or hub id given to --model)."""

    short: str
    recipe: Path
    path: str | None = None

    def file(self, name: str) -> Path | None:
        path = self.recipe / f"{name}.yaml"
        return path if path.is_file() else None

    def setting(self, name: str, default=None):
        return load_yaml(self.recipe / "dpo.yaml")[0].get(name, default)

    def text_settings(self, *names: str) -> list[str]:
        """The options training used for the text (beta, max_length, system_prompt of dpo.yaml), for what has no
        run manifest to read them from: the base model in prompt-only scoring and in generation."""
        recipe = load_yaml(self.recipe / "dpo.yaml")[0]
        return [item for name in names if recipe.get(name) is not None for item in (f"--{name}", str(recipe[name]))]


def choose(model: str) -> ModelChoice:
    """--model as a recipe name, or a model folder / hub id on the generic recipe."""
    recipe = CONFIGS / "models" / model
    if (recipe / "dpo.yaml").is_file() and model != "generic":
        return ModelChoice(model, recipe)
    folder = Path(model)
    local = (folder / "config.json").is_file() or (folder / "adapter_config.json").is_file()
    if local or (HUB_ID.match(model) and not folder.exists()):
        return ModelChoice(folder.name if local else model.split("/")[-1], CONFIGS / "models" / "generic", model)
    raise DataError(
        f"--model '{model}' is neither a recipe (experiments/configs/models/<name>/dpo.yaml), a model folder (with "
        "config.json) nor a hub id (owner/name)"
    )


def quiet(module: str, *args: str) -> None:
    """Run a preparation command, `python -m module args`; its output is shown only when it fails (its last line, as
    a DataError's reason). Forked from this process where it may be (planner.warm), so that a plan's preparations
    import torch and transformers once between them rather than once each."""
    with tempfile.TemporaryFile() as log:
        code = warm.start(module, list(args), log, {})
        if code:
            log.seek(0)
            lines = [line for line in log.read().decode("utf-8", "replace").splitlines() if line.strip()]
            raise DataError(f"{module} failed: {lines[-1] if lines else 'no output'}")


def base_model(choice: ModelChoice, data: Path, out: Path, build: bool = True) -> str:
    """The weights training starts from: the tiny model built from the dataset's text under <out>/base, a given
    folder or hub id as it is, else the recipe's (a packaged one is converted by a step of the plan)."""
    if choice.path is not None:
        return choice.path
    if choice.short == "tiny":
        base = out / "base"
        if build and not (base / "config.json").is_file():
            quiet("famous_persona.models", "--data", str(data), "--out", str(base))
        return str(base)
    return str(choice.setting("model_name_or_path"))
