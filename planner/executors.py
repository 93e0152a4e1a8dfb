"""Where runs execute: a local pool of submitit jobs (one per CPU worker, or per GPU slot with only its GPUs visible),
or a Slurm array per wave of runs with the analysis as a job that depends on them. Both hand each worker one run."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import submitit

from famous_persona.errors import DataError
from planner.execute import run_job

POLL_S = 0.2
# A local job's time limit: submitit's own default (2 minutes) would stop any real training.
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
    pending = list(jobs)
    outcome: dict[str, str] = {}
    running: dict[int | str, tuple[Job, Any]] = {}
    while pending or running:
        for index, (job, handle) in list(running.items()):
            if not handle.done():
                continue
            del running[index]
            try:
                results = handle.result()
            except Exception as error:  # noqa: BLE001 - a worker that died is a failed run, reported with its log
                last = str(error).strip().splitlines()[-1:] or ["no message"]
                log = handle.paths.stderr
                results = [{"step": job.run, "status": "failed", "error": last[0][:300], "log": str(log)}]
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
        free = [k for k in range(len(worker_slots)) if k not in running]
        for job in [j for j in pending if all(outcome.get(run) == "done" for run in j.after)]:
            if not job.light and not free:
                continue
            index = job.run if job.light else free.pop(0)
            gpus = () if job.light else worker_slots[index]
            executor.update_parameters(
                timeout_min=LOCAL_TIMEOUT_MIN, gpus_per_node=len(gpus), visible_gpus=list(gpus), stderr_to_stdout=True
            )
            pending.remove(job)
            running[index] = (job, executor.submit(run_job, job.payload))
        if running:
            time.sleep(POLL_S)
    return outcome


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
