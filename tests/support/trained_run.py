"""A trained run as training leaves it, without training: a copy of a model beside a finished manifest that records
the settings evaluation reads back (base model, β, maximum length, fold, system turn)."""

from __future__ import annotations

import shutil
from pathlib import Path

from famous_persona.io import write_json


def trained_run(folder: Path, model: Path | str, **run: object) -> str:
    """`<folder>/run/model` (a copy of `model`) with `<folder>/run/manifest.json`; `run` overrides RunArguments."""
    copy = Path(folder) / "run" / "model"
    shutil.copytree(model, copy)
    config = {
        "ModelConfig": {"model_name_or_path": str(model), "dtype": "float32"},
        "DPOConfig": {"beta": 0.05, "max_length": 256},
        "RunArguments": {"method": "xyw_2s", "fold": 0, "fold_scheme": "fold", "system_prompt": "", **run},
    }
    manifest = {"stage": "training.dpo", "status": "finished", "base_model": str(model), "config": config}
    write_json(copy.parent / "manifest.json", manifest)
    return str(copy)
