"""`famous-persona run PLAN`: expand an experiment into its steps, key them, and run what is not done (new, stale or
interrupted) on a local pool of submitit workers or as Slurm arrays, then the analysis; `--dry_run` says for each
step where it would run and why. Exits 0 only when every step of the plan is done; the same command finishes it."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from famous_persona import progress, trainers
from famous_persona.config import Subparsers, leading_word, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from planner import plans, recipes
from planner.digests import DigestCache
from planner.execute import run_job
from planner.executors import POLL_S, Job, run_local, slots, slurm_executor, submit_slurm
from planner.ledger import Ledger, state
from planner.status import accuracy
from planner.steps import Plan, Step, key_steps


@dataclass
class RunOptions:
    """An experiment plan and where it runs. Lists take several values: `--methods a b --folds 0 1`."""

    plan: str = field(default="cv", metadata={"help": f"The experiment: one of {', '.join(plans.PLANS)}."})
    data: str | None = field(
        default=None, metadata={"help": "Dataset directory (default: a synthetic world made under data/)."}
    )
    model: str | None = field(
        default=None,
        metadata={"help": "A recipe name (experiments/configs/models/<name>/), a model folder or a hub id (default "
                  "tiny; smollm2 for real_model)."},
    )  # fmt: skip
    out: str | None = field(default=None, metadata={"help": "Experiment folder (default dump/<plan>[_smoke])."})
    trainer: str = field(
        default="dpo", metadata={"help": f"The training algorithm: one of {', '.join(sorted(trainers.TRAINERS))}."}
    )
    smoke: bool = field(default=False, metadata={"help": "The smallest world, two folds, one epoch: minutes on a CPU."})
    seed: int | None = field(
        default=None, metadata={"help": "Training seed of every run (default: the recipe's); runs over several seeds "
                                "in their own folders give a table's spread (python -m analysis.spread)."}
    )  # fmt: skip
    force: bool = field(default=False, metadata={"help": "Redo every step, done or not."})
    behavioural: bool = field(default=False, metadata={"help": "Also generate a response per test question, judged."})
    methods: list[str] | None = field(default=None, metadata={"help": "Prefix methods (default: the plan's)."})
    folds: list[int] | None = field(default=None, metadata={"help": "Folds (default: all; with --smoke two)."})
    scheme: str = field(
        default="fold",
        metadata={"help": "fold: persona folds; axis: leave-one-axis-out; person: one model per person.",
                  "choices": ["fold", "axis", "person"]},
    )  # fmt: skip
    executor: str = field(
        default="local",
        metadata={"help": "local: a pool on this machine; slurm: arrays.", "choices": ["local", "slurm"]},
    )
    levels: list[str] | None = field(default=None, metadata={"help": "claims: the persona quality levels trained."})
    fold: int = field(default=0, metadata={"help": "real_model: the fold whose people are held out."})
    max_train_pairs: int | None = field(
        default=None, metadata={"help": "Train pairs per model, dealt over the seen people; 0 = all (cv, axis_cv, "
                                "per_person: default all; real_model: default 64, 16 with --smoke)."}
    )  # fmt: skip
    inference_models: str = field(
        default=str(recipes.INFERENCE), metadata={"help": "Folder of the <model>.yaml files that persona_*_<model> "
                                            "prefixes name (docs/gpu.md)."}
    )  # fmt: skip
    inference_set: list[str] | None = field(
        default=None, metadata={"help": "Overrides of every inference model's keys as key=value, e.g. max_tokens=64 "
                                "concurrency=4."}
    )  # fmt: skip
    ratio: str = field(default="0.5", metadata={"help": "self_inference: persona-task rows per train pair."})
    tokens: int = field(default=128, metadata={"help": "self_inference: new tokens per inferred persona."})
    jobs: int | None = field(
        default=None, metadata={"help": "Runs at once without GPUs, one thread each if above 1 (default 1; 2 for "
                                "demo and claims)."}
    )  # fmt: skip
    gpus: int | None = field(default=None, metadata={"help": "GPUs to use (default: those visible)."})
    gpus_per_run: int = field(default=1, metadata={"help": "GPUs per run; above 1 training goes through --launch."})
    launch: str | None = field(
        default=None,
        metadata={"help": "Training launcher, e.g. 'accelerate launch --config_file <experiments/accelerate/...>'."},
    )  # fmt: skip
    dry_run: bool = field(default=False, metadata={"help": "Print every step, where it would run and why; run none."})
    fail_fast: bool = field(default=False, metadata={"help": "Stop starting runs after the first failure."})
    detach: bool = field(default=False, metadata={"help": "Slurm: submit and return (follow with `status`)."})
    slurm_partition: str | None = field(default=None, metadata={"help": "Slurm partition."})
    slurm_time_min: int = field(default=720, metadata={"help": "Slurm time limit per run, in minutes."})
    slurm_cpus_per_task: int = field(default=1, metadata={"help": "Slurm CPUs per run."})


def visible_gpus() -> int:
    """GPUs this process may use: CUDA_VISIBLE_DEVICES where set, else what nvidia-smi lists."""
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        return len([g for g in given.split(",") if g.strip()])
    if shutil.which("nvidia-smi") is None:
        return 0
    done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return sum(line.startswith("GPU ") for line in done.stdout.splitlines()) if done.returncode == 0 else 0


def say(plan: str, start: float, text: str) -> None:
    print(f"[{plan} {int(time.time() - start):4d}s] {text}", flush=True)


def check_layout(plan: Plan, ledger: Ledger, force: bool) -> None:
    """Outputs written by the bash scripts of an older layout carry no step records: say how to migrate."""
    # results.csv and its tables are every plan's, a converted model proves its source by its own record, and
    # inferred prefixes live in the dataset, which other folders share: those are redone, not refused
    mine = [s for s in plan.steps if s.kind not in ("analysis", "fetch", "infer")]
    foreign = [s for s in mine if state(s, ledger, check_lock=False)[0] == "foreign"]
    if foreign and not force:
        raise DataError(
            f"{plan.out}: {len(foreign)} finished step(s) were written by an older layout without step records "
            f"(first: {foreign[0].done}); keys cannot say whether they are current. Rerun with --force to redo them, "
            "or move that folder away and start a new one"
        )


def where(options: RunOptions, index: int, worker_slots: list[tuple[int, ...]]) -> str:
    if options.executor == "slurm":
        return "slurm array task"
    gpus = worker_slots[index % len(worker_slots)]
    return f"worker {index % len(worker_slots)}" + (f" (GPU {','.join(map(str, gpus))})" if gpus else " (CPU)")


def dry_run(plan: Plan, ledger: Ledger, options: RunOptions, worker_slots: list[tuple[int, ...]]) -> int:
    """Every step with its state and why, the worker its run would go to, and the count of runs to do."""
    todo = 0
    for run, steps in plan.runs().items():
        states = [state(s, ledger) for s in steps]
        busy = any(st not in ("done",) for st, _ in states) or options.force
        place = where(options, todo, worker_slots) if busy and run != "analysis" else "-"
        todo += busy and run != "analysis"
        for step, (st, why) in zip(steps, states, strict=True):
            shown = "forced" if options.force else st
            print(f"{shown:<11} {step.name:<60} {place:<22} {why}")
    kind = f"{len(worker_slots)} GPU slot(s)" if worker_slots[0] else f"{len(worker_slots)} CPU worker(s)"
    if options.executor == "slurm":
        kind = "slurm arrays"
    print(f"{todo} of {len(plan.runs()) - ('analysis' in plan.runs())} run(s) to do on {kind}")
    return 0


def headline(steps: list[Step]) -> str:
    """The accuracy (ref_free_avg, seen and unseen people) of every test prefix scored in a run."""
    parts = [f"{Path(step.out).name} {accuracy(step)}" for step in steps if accuracy(step)]
    return "accuracy " + ", ".join(parts) if parts else "nothing scored"


def payload(steps: list[Step], options: RunOptions, out: Path, threads: int | None) -> dict[str, Any]:
    """A job's steps and how they start."""
    launch = shlex.split(options.launch) if options.launch else []
    if not launch and options.gpus_per_run > 1:
        launch = ["accelerate", "launch", "--multi_gpu", "--num_processes", str(options.gpus_per_run)]
    return {"out": str(out), "steps": [s.to_dict() for s in steps], "launch": launch, "force": options.force,
            "threads": threads}  # fmt: skip


def execute(plan: Plan, ledger: Ledger, options: RunOptions, worker_slots: list[tuple[int, ...]], start: float) -> int:
    """Run every run that has work, then the analysis; print a line per finished run; exit status 1 naming what is
    missing when anything failed."""
    runs = plan.runs()
    analysis_steps = runs.pop("analysis", [])
    labels = dict(note.split("\t", 1) for note in plan.notes)
    owner = {s.name: run for run, steps in runs.items() for s in steps}
    todo = {
        run: steps for run, steps in runs.items() if options.force or any(state(s, ledger)[0] != "done" for s in steps)
    }
    for run, steps in runs.items():
        if run not in todo:
            Path(steps[0].log).parent.mkdir(parents=True, exist_ok=True)
            with open(steps[0].log, "a") as log:
                log.write(f"{run}: every step is done with its current key; skipping\n")
    threads = 1 if len(worker_slots) > 1 and not worker_slots[0] else None
    jobs = [
        Job(run, payload(steps, options, Path(plan.out), threads),
            sorted({owner[d] for s in steps for d in s.deps if owner.get(d) not in (None, run) and owner[d] in todo}),
            light=all(s.kind == "fetch" for s in steps))
        for run, steps in todo.items()
    ]  # fmt: skip
    failures: list[dict[str, Any]] = []
    total = sum(len(job.payload["steps"]) for job in jobs)
    bar = progress.bar(total, f"{plan.name} steps", unit="step")

    def on_result(job: Job, results: list[dict[str, Any]]) -> None:
        bar.update(len(job.payload["steps"]))
        bad = [r for r in results if r["status"] in ("failed", "blocked")]
        failures.extend(bad)
        seconds = sum(r.get("seconds", 0.0) for r in results)
        label = labels.get(job.run, job.run)
        if bad and bad[0]["status"] == "blocked":
            say(plan.name, start, f"NOT STARTED {label}: it builds on a run that failed")
        elif bad:
            first = bad[0]
            say(plan.name, start, f"FAILED {first['step']}: {first.get('error', '')} (log: {first.get('log', '-')})")
        else:
            say(plan.name, start, f"{label}: {int(seconds)}s; {headline(runs[job.run])}")

    if jobs and options.executor == "slurm":
        return execute_slurm(plan, jobs, analysis_steps, options, ledger, on_result, start)
    if jobs:
        say(plan.name, start, f"{len(jobs)} run(s) on {len(worker_slots)} worker(s); logs: <run>/run.log")
        run_local(jobs, ledger.root / "submitit", worker_slots, on_result, options.fail_fast)
    bar.close()
    if failures:
        missing = [s.name for steps in runs.values() for s in steps if state(s, ledger)[0] != "done"]
        say(plan.name, start, f"{len(missing)} step(s) not finished: {', '.join(missing)}; the same command resumes")
        return 1
    outcome = run_job(payload(analysis_steps, options, Path(plan.out), None))
    show_analysis(plan, outcome, start)
    return 1 if any(r["status"] == "failed" for r in outcome) else 0


def execute_slurm(plan: Plan, jobs: list[Job], analysis_steps: list[Step], options: RunOptions, ledger: Ledger,
                  on_result: Callable[[Job, list[dict[str, Any]]], None], start: float) -> int:  # fmt: skip
    """Each wave of runs as one array (one task a run, with its GPUs), the analysis as a job after them; waits and
    reports each run as its task ends, unless --detach."""
    extra = {"timeout_min": options.slurm_time_min, "cpus_per_task": options.slurm_cpus_per_task}
    if options.slurm_partition:
        extra["slurm_partition"] = options.slurm_partition
    executor = slurm_executor(ledger.root / "slurm", options.gpus_per_run, extra)
    executor.update_parameters(name=f"fp-{plan.name}")
    analysis = Job("analysis", payload(analysis_steps, options, Path(plan.out), None), [])
    handles, final = submit_slurm(jobs, executor, analysis.payload)
    ids = sorted({h.job_id.split("_")[0] for h in handles})
    say(plan.name, start, f"submitted {len(jobs)} run(s) as array(s) {', '.join(ids)}, the analysis as job "
                          f"{final.job_id if final else '-'}; logs under {ledger.root / 'slurm'}")  # fmt: skip
    if options.detach:
        say(plan.name, start, f"follow with: famous-persona status {plan.out}")
        return 0
    waiting = list(zip(jobs, handles, strict=True)) + ([(analysis, final)] if final is not None else [])
    failed = False
    while waiting:
        for job, handle in [pair for pair in waiting if pair[1].done()]:
            waiting.remove((job, handle))
            try:
                results = handle.result()
            except Exception as error:  # noqa: BLE001 - a task that died or was cancelled is a failed run
                message = " ".join(str(error).split())[-300:]
                results = [{"step": job.run, "status": "failed", "error": message, "log": str(handle.paths.stderr)}]
            failed |= any(r["status"] == "failed" for r in results)
            if job is analysis:
                show_analysis(plan, results, start)
            else:
                on_result(job, results)
        time.sleep(POLL_S if waiting else 0)
    return 1 if failed else 0


def show_analysis(plan: Plan, results: list[dict[str, Any]], start: float) -> None:
    for result in results:
        if result.get("output"):
            print(result["output"], flush=True)
        if result["status"] == "failed":
            say(plan.name, start, f"FAILED {result['step']}: {result['error']} (log: {result['log']})")
    if results and not any(r["status"] == "failed" for r in results):
        say(plan.name, start, f"results: {Path(plan.out) / 'results.csv'}")


def make_parser(subparsers: Subparsers | None = None):
    return stage_parser("run", [RunOptions], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser=None) -> None:
    (options,) = parse_config(parser or make_parser(), leading_word(args, "plan"))
    raise SystemExit(run(options))


def run(options: RunOptions) -> int:
    """The plan of `options`, keyed, dry-run or executed; returns the exit status."""
    start = time.time()
    gpus = visible_gpus() if options.gpus is None else options.gpus
    jobs = options.jobs or plans.DEFAULT_JOBS.get(options.plan, 1)
    worker_slots = slots(gpus, options.gpus_per_run, jobs)
    if options.executor == "slurm" and shutil.which("sbatch") is None:
        raise DataError("command line: --executor slurm needs Slurm's sbatch on PATH, and there is none here")
    plan, studies, generated = plans.build(options)
    for data in sorted(generated):
        say(plan.name, start, f"synthetic persona world -> {data} (fictional people, not FamousPersona data)")
    if not options.dry_run:
        plans.materialise(plan, studies, generated)
        say(plan.name, start, "prefixes baked and base models ready")
    return carry_out(plan, options, worker_slots, start)


def carry_out(plan: Plan, options: RunOptions, worker_slots: list[tuple[int, ...]], start: float) -> int:
    """Key the plan's steps, then print them (dry run) or run what is not done."""
    ledger = Ledger(plan.out)
    cache = DigestCache(ledger.root / "digests.json")
    key_steps(plan.steps, cache)
    if options.dry_run:
        return dry_run(plan, ledger, options, worker_slots)
    check_layout(plan, ledger, options.force)
    cache.save()
    ledger.save_plan(plan)
    return execute(plan, ledger, options, worker_slots, start)


if __name__ == "__main__":
    main()
