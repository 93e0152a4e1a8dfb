"""What a worker runs: the steps of one run, in order, each under its lock, as a process whose output goes to the
run's log. A step already done (by another runner) is skipped; a stale one is cleared and redone; a failed one is
recorded with its last error line and stops the rest of its run. A local worker serves one run after another from its
inbox. Imported by submitit in the job, so it lives here."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from famous_persona.io import read_json, write_json
from planner import warm
from planner.ledger import Ledger, process_id, state
from planner.steps import Step

STOP = "stop"
"""The file in a worker's inbox that ends it once it has no run left."""
QUIET = {
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONWARNINGS": "ignore",
}


@dataclass
class Worker:
    """How a job's steps start: the training launcher, whether to redo done steps, and torch's threads."""

    launch: list[str] = field(default_factory=list)
    force: bool = False
    threads: int | None = None

    def args(self, step: Step, redo: bool) -> list[str]:
        return [*step.args, *(step.force if redo else [])]

    def command(self, step: Step, redo: bool) -> list[str]:
        """The step's command line: through the training launcher (accelerate launch ...) for a launched step."""
        head = [*self.launch] if self.launched(step) else [sys.executable]
        return [*head, "-m", step.module, *self.args(step, redo)]

    def launched(self, step: Step) -> bool:
        return bool(step.launch and self.launch)

    def env(self) -> dict[str, str]:
        """What a step's process gets on top of this one's environment: quiet libraries, and its threads."""
        return {**QUIET, "OMP_NUM_THREADS": str(self.threads)} if self.threads else dict(QUIET)

    def start(self, step: Step, redo: bool, out: TextIO) -> int:
        """The step's exit status: through the launcher for a launched step, else forked from this worker with the
        libraries loaded once where it may be (planner.warm), else a new process."""
        if not self.launched(step):
            return warm.start(step.module, self.args(step, redo), out, self.env())
        argv, env = self.command(step, redo), {**os.environ, **self.env()}
        return subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env).returncode


def last_error(log: Path, since: int) -> str:
    """The last non-blank line the step wrote to its log (from byte `since`): what a person reads first."""
    try:
        with log.open("rb") as handle:
            handle.seek(since)
            lines = [line.strip() for line in handle.read().decode("utf-8", "replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no output"


def output(step: Step, log: Path, since: int) -> str:
    """What an analysis step printed (its table), for the console; other steps keep theirs in the run's log."""
    if step.kind != "analysis":
        return ""
    with log.open("rb") as handle:
        handle.seek(since)
        lines = handle.read().decode("utf-8", "replace").splitlines()
    return "\n".join(line for line in lines[1:] if not line.startswith("wrote "))


def run_step(step: Step, ledger: Ledger, worker: Worker) -> dict[str, Any]:
    """One step under its lock: skipped when done, else (cleared when stale) run, and recorded."""
    with ledger.lock(step.name):
        status, why = state(step, ledger, check_lock=False)
        if status == "done" and not worker.force:
            return {"step": step.name, "status": "skipped", "seconds": 0.0}
        redo = worker.force or status in ("stale", "foreign", "failed")
        if status in ("stale", "foreign"):
            for path in step.clear:
                target = Path(path)
                shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        log = Path(step.log)
        log.parent.mkdir(parents=True, exist_ok=True)
        since = log.stat().st_size if log.exists() else 0
        started = time.time()
        record = {
            "key": step.key,
            "components": step.components,
            "status": "running",
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "pid": process_id(),
            "why": f"{status}: {why}" if why else status,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "log": str(log),
        }
        ledger.write(step.name, record)
        with log.open("a") as out:
            out.write(f"$ {shlex.join(worker.command(step, redo))}\n")
            out.flush()
            code = worker.start(step, redo, out)
        seconds = round(time.time() - started, 1)
        ledger_state, _ = state(step, ledger, check_lock=False)
        if code == 0 and ledger_state == "done":
            ledger.write(step.name, {**record, "status": "done", "seconds": seconds})
            return {"step": step.name, "status": "done", "seconds": seconds, "output": output(step, log, since)}
        error = last_error(log, since) if code else f"exited 0 without writing {step.done}"
        ledger.write(step.name, {**record, "status": "failed", "seconds": seconds, "error": error, "exit": code})
        return {"step": step.name, "status": "failed", "seconds": seconds, "error": error, "log": str(log)}


def run_job(job: dict[str, Any]) -> list[dict[str, Any]]:
    """A run's steps in order; the first failure ends the run (its later steps build on it)."""
    ledger = Ledger(job["out"])
    worker = Worker(job.get("launch", []), job.get("force", False), job.get("threads"))
    outcomes = []
    for data in job["steps"]:
        outcome = run_step(Step(**data), ledger, worker)
        outcomes.append(outcome)
        if outcome["status"] == "failed":
            break
    return outcomes


def serve(inbox: str, runner: int) -> int:
    """A local worker's life: each run the runner hands it (`<n>.run.json` in `inbox`, a job payload) in turn, its
    outcomes written beside it (`<n>.done.json`), until the runner writes STOP or is gone. One process for many runs,
    so the libraries a step imports load once per worker, not once per run. Returns how many runs it served."""
    folder, served = Path(inbox), 0
    while True:
        todo = sorted(p for p in folder.glob("*.run.json") if not done_path(p).exists())
        if todo:
            write_json(done_path(todo[0]), run_job(read_json(todo[0])))
            served += 1
        elif (folder / STOP).exists() or not alive(runner):
            return served
        else:
            time.sleep(0.1)


def done_path(run_file: Path) -> Path:
    return run_file.with_name(run_file.name.replace(".run.json", ".done.json"))


def alive(pid: int) -> bool:
    """Whether process `pid` still runs: a runner killed with kill -9 leaves its workers to finish the run they are
    on, then end (a runner that has died but was not yet reaped by its parent counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[-1].split()[0] != "Z"
