"""Where runs execute: a local pool of submitit jobs (one per CPU worker, or per GPU slot with only its GPUs visible),
each handed one run after another through its inbox, or a Slurm array per wave of runs (a task a run) with the
analysis as a job that depends on them."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import submitit

from famous_persona.errors import DataError
from famous_persona.io import read_json, write_json
from planner.execute import STOP, done_path, run_job, serve

POLL_S = 0.2
# A local worker's time limit: submitit's own default (2 minutes) would stop any real training.
LOCAL_TIMEOUT_MIN = 60 * 24 * 7


@dataclass
class Job:
    """A run handed to a worker: its name, the job payload and the runs it waits for; a light one (converting a
    model, mostly reading and writing files) runs beside the workers rather than taking a slot."""

    run: str
    payload: dict[str, Any]
    after: list[str]
    light: bool = False


def slots(gpus: int, gpus_per_run: int, jobs: int) -> list[tuple[int, ...]]:
    """Worker slots: on a GPU box each slot owns `gpus_per_run` GPUs (every GPU busy), else `jobs` CPU workers."""
    if gpus <= 0:
        return [()] * max(1, jobs)
    if gpus_per_run > gpus:
        raise DataError(f"command line: --gpus_per_run {gpus_per_run} is more than the {gpus} GPU(s) visible")
    return [tuple(range(k * gpus_per_run, (k + 1) * gpus_per_run)) for k in range(gpus // gpus_per_run)]


def waves(jobs: Sequence[Job]) -> list[list[Job]]:
    """Jobs by depth: a wave holds the jobs whose runs wait only for runs of earlier waves."""
    depth: dict[str, int] = {}
    for job in jobs:
        depth[job.run] = 1 + max((depth.get(run, -1) for run in job.after), default=-1)
    grouped: dict[int, list[Job]] = {}
    for job in jobs:
        grouped.setdefault(depth[job.run], []).append(job)
    return [grouped[k] for k in sorted(grouped)]


@dataclass
class Slot:
    """A local worker slot: its GPUs, the worker serving it (started when first needed, again if it died), that
    worker's inbox and the run it is on."""

    gpus: tuple[int, ...]
    inbox: Path
    handle: Any = None
    current: tuple[Job, Path] | None = None
    handed: int = 0

    def hand(self, job: Job, executor: submitit.LocalExecutor) -> None:
        if self.handle is None or self.handle.done():
            self.handle = submit(executor, self.gpus, serve, str(self.inbox), os.getpid())
        run_file = self.inbox / f"{self.handed:05d}.run.json"
        self.handed += 1
        write_json(run_file, job.payload)
        self.current = (job, run_file)

    def finished(self) -> list[dict[str, Any]] | None:
        """The outcomes of the run it is on once written (then it is free), a failure if its worker died first, or
        None while the run goes on."""
        job, run_file = self.current
        ended = self.handle.done()
        if done_path(run_file).exists():
            results = read_json(done_path(run_file))
        elif ended:
            results = died(job, self.handle)
            write_json(done_path(run_file), results)  # so the worker started next for this slot leaves it
        else:
            return None
        self.current = None
        return results


def submit(executor: submitit.LocalExecutor, gpus: tuple[int, ...], function: Callable, *args: Any) -> Any:
    """A local job seeing only `gpus`, with the local time limit, its output and errors in one log."""
    executor.update_parameters(
        timeout_min=LOCAL_TIMEOUT_MIN, gpus_per_node=len(gpus), visible_gpus=list(gpus), stderr_to_stdout=True
    )
    return executor.submit(function, *args)


def died(job: Job, handle: Any) -> list[dict[str, Any]]:
    """A worker that ended without finishing its run: a failed run, pointing to the worker's log. (Not through
    `handle.result()`, which gives a killed worker submitit's 15 s to write a result it never will.)"""
    error = "its worker process ended before the run did"
    return [{"step": job.run, "status": "failed", "error": error, "log": str(handle.paths.stdout)}]


def run_local(
    jobs: Sequence[Job],
    folder: Path,
    worker_slots: list[tuple[int, ...]],
    on_result: Callable[[Job, list[dict[str, Any]]], None],
    fail_fast: bool,
) -> dict[str, str]:
    """Run jobs on the slots, each as soon as the runs it waits for have succeeded; returns each run's outcome
    (done, failed, blocked)."""
    executor = submitit.LocalExecutor(folder=folder)
    folder.mkdir(parents=True, exist_ok=True)
    inboxes = Path(tempfile.mkdtemp(prefix="inboxes-", dir=folder))
    pool = [Slot(gpus, inboxes / str(k)) for k, gpus in enumerate(worker_slots)]
    for slot in pool:
        slot.inbox.mkdir()
    pending = list(jobs)
    outcome: dict[str, str] = {}
    light: list[tuple[Job, Any]] = []
    try:
        while pending or light or any(slot.current for slot in pool):
            ended = [(job, handle) for job, handle in light if handle.done()]
            light = [pair for pair in light if pair not in ended]
            finished = [(job, handle_results(job, handle)) for job, handle in ended]
            finished += [(slot.current[0], slot.finished()) for slot in pool if slot.current]
            for job, results in [(job, results) for job, results in finished if results is not None]:
                failed = any(r["status"] == "failed" for r in results)
                outcome[job.run] = "failed" if failed else "done"
                on_result(job, results)
                if failed and fail_fast:
                    pending.clear()
            for job in list(pending):
                if any(outcome.get(run) in ("failed", "blocked") for run in job.after):
                    pending.remove(job)
                    outcome[job.run] = "blocked"
                    on_result(job, [{"step": job.run, "status": "blocked", "error": "a run it builds on failed"}])
            for job in [j for j in pending if all(outcome.get(run) == "done" for run in j.after)]:
                free = [slot for slot in pool if slot.current is None]
                if job.light:
                    light.append((job, submit(executor, (), run_job, job.payload)))
                elif free:
                    free[0].hand(job, executor)
                else:
                    continue
                pending.remove(job)
            time.sleep(POLL_S)
    finally:
        stop(pool, inboxes)
    return outcome


def handle_results(job: Job, handle: Any) -> list[dict[str, Any]]:
    """A light job's outcomes; one that died, or raised, is a failed run."""
    if not handle.paths.result_pickle.exists():
        return died(job, handle)
    try:
        return handle.result()
    except Exception:  # noqa: BLE001 - the exception is in the worker's log
        return died(job, handle)


def stop(pool: list[Slot], inboxes: Path, wait_s: float = 10.0) -> None:
    """Tell every worker to end once its inbox is empty, give the idle ones a moment to, and drop the inboxes when
    all have (a worker still on a run, the runner interrupted, ends after it)."""
    for slot in pool:
        (slot.inbox / STOP).touch()
    idle = [slot.handle for slot in pool if slot.handle is not None and slot.current is None]
    deadline = time.time() + wait_s
    while not all(handle.done() for handle in idle) and time.time() < deadline:
        time.sleep(POLL_S / 4)
    if all(slot.handle is None or slot.handle.done() for slot in pool):
        shutil.rmtree(inboxes, ignore_errors=True)


def slurm_executor(folder: Path, gpus_per_run: int, options: dict[str, Any]) -> submitit.AutoExecutor:
    """submitit's Slurm executor: one task a run, with its GPUs."""
    executor = submitit.AutoExecutor(folder=folder / "%j", cluster="slurm")
    executor.update_parameters(gpus_per_node=gpus_per_run or None, **options)
    return executor


def submit_slurm(
    jobs: Sequence[Job], executor: submitit.AutoExecutor, analysis: dict[str, Any] | None
) -> tuple[list[Any], Any]:
    """One array per wave, each depending on the arrays before it, then the analysis after all of them; sbatch's
    refusal comes back as a DataError with its message."""
    submitted: list[Any] = []
    after: list[str] = []
    try:
        for wave in waves(jobs):
            dependency = {"dependency": "afterok:" + ":".join(after)} if after else {}
            executor.update_parameters(slurm_additional_parameters=dependency)
            with executor.batch():
                handles = [executor.submit(run_job, job.payload) for job in wave]
            submitted += handles
            after = sorted({h.job_id.split("_")[0] for h in handles})
        final = None
        if analysis is not None and analysis["steps"]:
            dependency = {"dependency": "afterok:" + ":".join(after)} if after else {}
            executor.update_parameters(slurm_additional_parameters=dependency, gpus_per_node=None)
            final = executor.submit(run_job, analysis)
    except submitit.core.utils.FailedJobError as error:
        raise DataError(f"slurm refused the request: {' '.join(str(error).split())[-400:]}") from None
    return submitted, final
