"""The ledger of an experiment folder (`<out>/.plan/`): the plans run into it, a record per step (its key, state,
seconds, error) and a lock per step, so two runners never run one step and a killed one loses nothing finished."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from famous_persona.io import read_json, write_json
from famous_persona.manifest import is_finished
from planner.steps import Plan, Step, changed

LEDGER = ".plan"


class Ledger:
    """Records and locks of one experiment folder; step names become file names with `/` spelt `__`."""

    def __init__(self, out: Path | str):
        self.out = Path(out)
        self.root = self.out / LEDGER

    def _slug(self, name: str) -> str:
        return name.replace("/", "__")

    def record_path(self, name: str) -> Path:
        return self.root / "steps" / f"{self._slug(name)}.json"

    def lock_path(self, name: str) -> Path:
        return self.root / "locks" / f"{self._slug(name)}.lock"

    def read(self, name: str) -> dict[str, Any] | None:
        path = self.record_path(name)
        try:
            return read_json(path)
        except (FileNotFoundError, ValueError):
            return None

    def write(self, name: str, record: dict[str, Any]) -> None:
        write_json(self.record_path(name), record)

    @contextlib.contextmanager
    def lock(self, name: str, wait: bool = True) -> Iterator[bool]:
        """Hold the step's lock (an flock, released when its holder dies, however it dies); yields False when
        `wait` is off and another process holds it."""
        path = self.lock_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def held(self, name: str) -> bool:
        """Whether some process holds the step's lock now (it is running)."""
        if not self.lock_path(name).exists():
            return False
        with self.lock(name, wait=False) as got:
            return not got

    def save_plan(self, plan: Plan) -> Path:
        path = self.root / f"plan-{plan.name}.json"
        write_json(path, plan.to_dict())
        return path

    def plans(self) -> list[Plan]:
        return [Plan.from_dict(read_json(p)) for p in sorted(self.root.glob("plan-*.json"))]


def state(step: Step, ledger: Ledger, check_lock: bool = True) -> tuple[str, str]:
    """(state, why) of a step: done, new, stale (which keys changed), running, interrupted (resumes), failed (its
    error), or foreign (outputs with no record: an older layout)."""
    record = ledger.read(step.name)
    finished = step_finished(step)
    if record is None:
        foreign = finished and bool(step.done)
        return ("foreign", f"{step.done} exists but has no step record") if foreign else ("new", "not run yet")
    if record.get("key") != step.key:
        what = changed(record.get("components", {}), step.components)
        return "stale", "changed: " + (", ".join(what) or "the key's layout")
    status = record.get("status")
    if status == "running":
        if check_lock and ledger.held(step.name):
            return "running", f"since {record.get('started_at', '?')} (pid {record.get('pid', '?')})"
        if finished:
            return "done", "finished after its runner stopped"
        return "interrupted", "resumes where it stopped"
    if status == "failed":
        return "failed", f"{record.get('error', '')} (log: {record.get('log', step.log)})"
    if status == "done" and finished:
        return "done", ""
    return "new", f"{step.done} is missing"


def step_finished(step: Step) -> bool:
    """Whether the stage wrote what it writes last: a manifest that says finished, or the file named (a step
    that names none is done by its record alone)."""
    if not step.done:
        return True
    path = Path(step.done)
    return is_finished(path) if path.name.endswith("manifest.json") else path.exists()


def process_id() -> str:
    return f"{os.uname().nodename}:{os.getpid()}"
