"""Run manifests: what produced an output, so a number can be traced back to its config and code."""

from __future__ import annotations

import logging
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from famous_persona.errors import DataError
from famous_persona.io import read_json, write_json
from famous_persona.redaction import redact

logger = logging.getLogger(__name__)

PACKAGES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "tokenizers", "numpy", "pandas")
# Settings that say where a run writes, how it logs or is launched (the device an evaluation was placed on
# included), or hold a credential: they never change what it computes, so a resume may change them and a run's
# config hash leaves them out (docs/design.md §9, §11).
NEUTRAL_KEYS = frozenset(
    {
        "output_dir",
        "out",
        "run_name",
        "resume_from_checkpoint",
        "force",
        "local_rank",
        "logging_steps",
        "logging_strategy",
        "logging_first_step",
        "log_level",
        "log_level_replica",
        "report_to",
        "disable_tqdm",
        "hub_token",
        "device",
    }
)


def git_commit(root: Path | str = ".") -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def shaping(config: Any) -> Any:
    """A config without its NEUTRAL_KEYS at any depth: what decides the numbers a run produces."""
    if isinstance(config, dict):
        return {key: shaping(value) for key, value in config.items() if key not in NEUTRAL_KEYS}
    return config


def write_manifest(path: Path | str, stage: str, config: dict[str, Any], **extra: Any) -> dict[str, Any]:
    manifest = {
        "stage": stage,
        "config": redact(config),
        "git_commit": git_commit(),
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    }
    write_json(path, manifest)
    return manifest


def is_finished(path: Path | str) -> bool:
    """A run is finished when its manifest says so; anything else is redone or resumed."""
    path = Path(path)
    return path.is_file() and read_json(path).get("status") == "finished"


def output_manifest(out_dir: Path | str, stage: str) -> Path:
    """`out_dir/manifest.json`, where `stage` records its output: every stage has a folder of its own, so a manifest
    there that another stage wrote (e.g. scores where generation was pointed) is refused, never taken for its own."""
    path = Path(out_dir) / "manifest.json"
    written_by = read_json(path).get("stage") if path.is_file() else stage
    if written_by != stage:
        raise DataError(f"{path}: written by {written_by}, not {stage}; each stage writes a folder of its own")
    return path


def skip_finished(out_dir: Path | str, force: bool, stage: str | None = None) -> bool:
    """The one skip-if-finished check of every stage: true (and said) when `out_dir` holds a finished manifest; with
    `stage`, one that another stage wrote is refused first, forced or not (`output_manifest`)."""
    path = output_manifest(out_dir, stage) if stage else Path(out_dir) / "manifest.json"
    done = is_finished(path) and not force
    if done:
        logger.warning("%s is finished; skipping (use --force to redo it)", path)
    return done


def record_step(path: Path | str, step: str, name: str, **info: Any) -> None:
    """Add one entry (e.g. a prefix method that was built) to an existing dataset manifest, keeping the rest."""
    path = Path(path)
    manifest = read_json(path) if path.is_file() else {}
    manifest.setdefault(step, {})[name] = {**redact(info), "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_json(path, manifest)
