"""The planner's figures, as `name=value` lines: the dry run of the paper's grid (5 folds x 7 prefix settings) on a
simulated 8-GPU box, the seconds `famous-persona status` takes on an experiment folder, and (with --compare REF) the
wall time and tables of the demo, `cv.sh --smoke` and `claims.sh --smoke` at REF and at the working tree, each from a
fresh clone, one after the other (the tables compared on their measured columns).

    python -m tests.support.bench_planner --data data/synthetic_demo --status dump/demo \
        [--compare REF --runs demo cv_smoke claims_smoke]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GRID = ["no_prefix", "tag", "name", "xyw_2s", "persona_xy_4s", "persona_x_4s", "persona_gold"]


def env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def grid(data: str) -> None:
    """The paper's grid, dry run on 8 simulated GPUs: how many runs, and how many land on each GPU."""
    with tempfile.TemporaryDirectory() as out:
        command = ["famous-persona", "run", "cv", "--data", data, "--out", out, "--methods", *GRID, "--gpus", "8",
                   "--dry_run"]  # fmt: skip
        started = time.time()
        done = subprocess.run(command, cwd=ROOT, env=env(), capture_output=True, text=True, check=True)
    trains = [line for line in done.stdout.splitlines() if line.split()[1].endswith("/dpo")]
    per_gpu = Counter(line.split("(GPU ")[1].split(")")[0] for line in trains)
    print(f"grid_runs={len(trains)}")
    print(f"grid_gpus={len(per_gpu)}")
    print(f"grid_runs_per_gpu_max={max(per_gpu.values())}")
    print(f"grid_runs_per_gpu_min={min(per_gpu.values())}")
    print(f"grid_dry_run_seconds={time.time() - started:.2f}")


def status(folder: str) -> None:
    """Seconds of `famous-persona status` (the process, imports included) on a finished experiment folder."""
    started = time.time()
    done = subprocess.run(["famous-persona", "status", folder], cwd=ROOT, env=env(), capture_output=True, text=True)
    print(f"status_seconds={time.time() - started:.2f}")
    print(f"status_exit={done.returncode}")
    print(f"status_rows={len(done.stdout.splitlines()) - 2}")


COMPARED = {
    "demo": (["bash", "experiments/demo.sh"], ["dump/demo/table.csv", "dump/demo/results.csv"]),
    "cv_smoke": (["bash", "experiments/cv.sh", "--smoke"], ["dump/cv_smoke/table.csv", "dump/cv_smoke/results.csv"]),
    "claims_smoke": (["bash", "experiments/claims.sh", "--smoke"], ["dump/claims_smoke/quality/results.csv"]),
}
# Columns that name where a run lives or how the table is keyed, not what it measured.
NOT_NUMBERS = {"experiment", "base_model", "config_hash", "trainer", "fold_scheme"}


def clone(ref: str | None, into: Path) -> Path:
    """A fresh clone at `ref`, or at HEAD with the working tree's changes and untracked files on top."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(into)], check=True)
    if ref:
        subprocess.run(["git", "checkout", "-q", ref], cwd=into, check=True)
        return into
    diff = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=ROOT, capture_output=True, check=True).stdout
    if diff:
        subprocess.run(["git", "apply"], cwd=into, input=diff, check=True)
    for path in untracked():
        (into / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, into / path)
    return into


def numbers(path: Path) -> list[tuple]:
    """A table's rows on the columns that hold measurements and identities other than paths, sorted."""
    import pandas as pd

    frame = pd.read_csv(path, keep_default_na=False)
    frame = frame[[c for c in frame.columns if c not in NOT_NUMBERS]]
    return sorted(map(tuple, frame.astype(str).to_numpy()))


def compare(ref: str, names: list[str]) -> None:
    """Each command at `ref` and at the working tree, each in a fresh clone with this interpreter's packages (SmolLM2
    converted in each, as a fresh clone does), one after the other: wall seconds, and whether the tables agree (both
    kept under dump/bench_planner/ for a look)."""
    for name in names:
        command, tables = COMPARED[name]
        found = {}
        for label, source in (("before", ref), ("after", None)):
            with tempfile.TemporaryDirectory() as tmp:
                where = clone(source, Path(tmp) / "clone")
                started = time.time()
                done = subprocess.run(command, cwd=where, env={**env(), "HF_HUB_OFFLINE": "1",
                                      "HF_DATASETS_OFFLINE": "1"}, capture_output=True, text=True)  # fmt: skip
                print(f"{name}_{label}_seconds={time.time() - started:.0f}")
                print(f"{name}_{label}_exit={done.returncode}")
                found[label] = [numbers(where / t) for t in tables] if done.returncode == 0 else None
                kept = ROOT / "dump" / "bench_planner" / f"{name}_{label}"
                for table in tables:
                    if (where / table).is_file():
                        (kept / table).parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(where / table, kept / table)
        print(f"{name}_tables_identical={int(found['before'] is not None and found['before'] == found['after'])}")


def untracked() -> list[str]:
    done = subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True,
                          text=True, check=True)  # fmt: skip
    return done.stdout.split()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/synthetic_demo", help="dataset of the grid's dry run")
    parser.add_argument("--status", help="an experiment folder to time `status` on")
    parser.add_argument("--compare", help="a git ref to run the commands of --runs at, and then the working tree")
    parser.add_argument("--runs", nargs="+", default=["demo"], choices=sorted(COMPARED), help="what --compare runs")
    args = parser.parse_args(argv)
    grid(args.data)
    if args.status:
        status(args.status)
    if args.compare:
        compare(args.compare, args.runs)


if __name__ == "__main__":
    main()
