"""Steps, runs and plans, and the key of a step: the digest of everything that changes what it computes (its shaped
settings, the digests of the files and base models it reads, and the keys of the steps it builds on)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from famous_persona.config import load_yaml
from famous_persona.manifest import NEUTRAL_KEYS, shaping
from planner.digests import DigestCache, text_digest

# Options that say where a step reads or writes, or what it is called, but not what it computes: the files and models
# behind them enter the key through their digests instead, so moving a folder leaves every key as it was.
NEUTRAL_OPTIONS = NEUTRAL_KEYS | {
    "data",
    "experiment",
    "experiment_dir",
    "model",
    "model_name_or_path",
    "ref_model",
    "config",
    "model_short",
}


@dataclass
class Step:
    """One stage run as a process: `python -m module args`; done when `done` exists and its record's key matches."""

    name: str
    run: str
    kind: str
    module: str
    args: list[str]
    out: str
    done: str
    log: str
    recipes: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    deps: list[str] = field(default_factory=list)
    force: list[str] = field(default_factory=lambda: ["--force", "true"])
    clear: list[str] = field(default_factory=list)
    launch: bool = False
    key: str = ""
    components: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Plan:
    """An experiment expanded: its steps in an order where each follows the steps it builds on."""

    name: str
    out: str
    steps: list[Step]
    notes: list[str] = field(default_factory=list)

    def runs(self) -> dict[str, list[Step]]:
        """The steps grouped by run, in plan order: a run is what one worker (one GPU, one array task) executes."""
        grouped: dict[str, list[Step]] = {}
        for step in self.steps:
            grouped.setdefault(step.run, []).append(step)
        return grouped

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "out": self.out, "notes": self.notes, "steps": [s.to_dict() for s in self.steps]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(data["name"], data["out"], [Step(**s) for s in data["steps"]], data.get("notes", []))


def shaped_options(args: list[str]) -> dict[str, Any]:
    """`--key value` pairs less the neutral ones, a flag alone as true; a repeated list option keeps every value."""
    options: dict[str, Any] = {}
    name = None
    for arg in args:
        if arg.startswith("--"):
            name = arg[2:].replace("-", "_")
            options[name] = True
        elif name is not None:
            options[name] = arg if options[name] is True else [*_as_list(options[name]), arg]
    return {k: v for k, v in options.items() if k not in NEUTRAL_OPTIONS}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def model_digest(model: str, cache: DigestCache) -> str | None:
    """A local model folder by the digest of its weights, config and tokenizer files; a hub id by itself and its
    revision (`owner/name@revision`, `main` when none is given)."""
    path = Path(model)
    if path.is_dir():
        return cache.folder(path)
    if path.exists() or model.startswith(("models/", "dump/", "/", ".")):
        return None
    return f"hub:{model}" if "@" in model else f"hub:{model}@main"


def components(step: Step, keys: dict[str, str], cache: DigestCache) -> dict[str, Any]:
    """What the key of a step is the digest of; a file or model not there yet reads as None."""
    recipes = {}
    for path in step.recipes:
        try:
            recipes[Path(path).as_posix()] = shaping(load_yaml(path)[0])
        except Exception:  # noqa: BLE001 - a recipe that cannot be read is not there yet; the step itself says why
            recipes[Path(path).as_posix()] = None
    return {
        "stage": step.module,
        "options": shaped_options(step.args),
        "recipes": recipes,
        "inputs": {Path(path).as_posix(): cache.file(path) for path in step.inputs},
        "models": {model: model_digest(model, cache) for model in step.models},
        "deps": {dep: keys.get(dep) for dep in step.deps},
    }


def key_steps(steps: list[Step], cache: DigestCache, known: dict[str, str] | None = None) -> None:
    """Set every step's components and key, in order, so a dependency's key is known before its dependents'."""
    keys = dict(known or {})
    for step in steps:
        step.components = components(step, keys, cache)
        step.key = text_digest(json.dumps(step.components, sort_keys=True, default=str))[:16]
        keys[step.name] = step.key


def changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The components that differ between a recorded key and the current one, as dotted names."""
    names = []
    for part in ("stage", "options", "recipes", "inputs", "models", "deps"):
        old, new = before.get(part), after.get(part)
        if isinstance(old, dict) and isinstance(new, dict):
            names += [f"{part}.{k}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        elif old != new:
            names.append(part)
    return names
