"""Resuming an interrupted run: the newest checkpoint complete enough to continue from, and a refusal to continue a
run that was started with other settings."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

from famous_persona.errors import DataError
from famous_persona.io import read_json
from famous_persona.manifest import redact, shaping, write_manifest

logger = logging.getLogger(__name__)

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "adapter_model.safetensors",
    "adapter_model.bin",
)


def checkpoint_gaps(checkpoint: Path) -> list[str]:
    """What a checkpoint lacks to be resumed from (a run killed while saving leaves only some files): model weights,
    a readable trainer_state.json, optimizer state (optimizer.pt, FSDP's optimizer_*, DeepSpeed's global_step*)."""
    names = {path.name for path in checkpoint.iterdir()}
    gaps = []
    if not (names & set(WEIGHTS) or any(name.startswith("pytorch_model_fsdp") for name in names)):
        gaps.append("model weights")
    try:
        json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        gaps.append("trainer_state.json")
    if not any(name == "optimizer.pt" or name.startswith(("optimizer_", "global_step")) for name in names):
        gaps.append("optimizer state")
    return gaps


def _newest_first(output_dir: Path) -> list[Path]:
    found = [path for path in output_dir.glob("checkpoint-*") if path.is_dir() and CHECKPOINT.match(path.name)]
    return sorted(found, key=lambda path: int(CHECKPOINT.match(path.name).group(1)), reverse=True)


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest complete `checkpoint-N` of a run. A newer incomplete one is skipped with a warning and kept where
    it is: the resumed run writes that step's checkpoint over it."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    for checkpoint in _newest_first(output_dir):
        gaps = checkpoint_gaps(checkpoint)
        if not gaps:
            return str(checkpoint)
        logger.warning("%s is incomplete (no %s); skipped and kept", checkpoint, ", ".join(gaps))
    return None


def _resume_state(run_dir: Path) -> list[Path]:
    """What a rerun would continue from: complete checkpoints of the run or of its persona-refresh rounds, and the
    log of finished refresh rounds."""
    checkpoints = [*run_dir.glob("checkpoint-*"), *run_dir.glob("rounds/*/checkpoint-*")]
    state = [path for path in checkpoints if path.is_dir() and not checkpoint_gaps(path)]
    return state + [path for path in [run_dir / "refresh" / "log.jsonl"] if path.is_file()]


def changed_settings(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """`key old -> new` for every setting that differs between two manifest configs ({dataclass: {key: value}}),
    the neutral ones (paths, logging, launch, credentials) aside; a key only one side has (another library version)
    is not compared."""
    recorded, current = shaping(recorded), shaping(current)
    changes = []
    for section in sorted(set(recorded) & set(current)):
        old, new = recorded[section], current[section]
        for key in sorted(set(old) & set(new)):
            if old[key] != new[key]:
                changes.append(f"{key} {old[key]!r} -> {new[key]!r}")
    return changes


def begin_run(run_dir: Path, stage: str, config: dict[str, Any], force: bool, writer: bool) -> None:
    """Start over when forced; otherwise refuse to resume a run recorded with other settings. Then record the config
    (status running), which the next resume is checked against."""
    manifest = run_dir / "manifest.json"
    current = json.loads(json.dumps(redact(config)))
    state = _resume_state(run_dir)
    if force and state:
        logger.warning("--force: starting %s over (its checkpoints and refresh rounds are removed)", run_dir)
        for path in [*run_dir.glob("checkpoint-*"), run_dir / "rounds", run_dir / "refresh"]:
            shutil.rmtree(path, ignore_errors=True)
    elif state and not manifest.is_file():
        logger.warning("%s records no settings; resuming without checking them", run_dir)
    elif state:
        changes = changed_settings(read_json(manifest).get("config", {}), current)
        if changes:
            raise DataError(
                f"{manifest}: cannot resume, the run was started with other settings ({'; '.join(changes)}); "
                "rerun with its settings to resume it, or add --force to start over"
            )
    if writer:
        write_manifest(manifest, stage=stage, config=config, status="running")
