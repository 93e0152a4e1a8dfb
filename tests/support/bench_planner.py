"""The planner's figures, as `name=value` lines: the dry run of the paper's grid (5 folds x 7 prefix settings) on a
simulated 8-GPU box, the seconds `famous-persona status` takes on an experiment folder, and (with --demo REF) the
demo's wall time and table at REF and at the working tree, each from a fresh clone, run one after the other.

    python -m tests.support.bench_planner --data data/synthetic_demo --status dump/demo [--demo REF]
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


def demo(ref: str) -> None:
    """The demo at `ref` and at the working tree (committed or not), each in a fresh clone with this interpreter's
    packages; SmolLM2 converted in each, as a fresh clone does. Prints both wall times and whether the tables match."""
    tables = {}
    for label, source in (("before", ref), ("after", None)):
        with tempfile.TemporaryDirectory() as tmp:
            clone = Path(tmp) / "clone"
            subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
            if source:
                subprocess.run(["git", "checkout", "-q", source], cwd=clone, check=True)
            else:
                diff = subprocess.run(["git", "diff", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
                if diff:
                    subprocess.run(["git", "apply"], cwd=clone, input=diff, check=True)
                for path in untracked():
                    (clone / path).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(ROOT / path, clone / path)
            started = time.time()
            done = subprocess.run(["bash", "experiments/demo.sh"], cwd=clone, env={**env(), "HF_HUB_OFFLINE": "1",
                                  "HF_DATASETS_OFFLINE": "1"}, capture_output=True, text=True)  # fmt: skip
            print(f"demo_{label}_seconds={time.time() - started:.0f}")
            print(f"demo_{label}_exit={done.returncode}")
            tables[label] = (clone / "dump/demo/table.csv").read_text() if done.returncode == 0 else None
    print(f"demo_tables_identical={int(tables['before'] is not None and tables['before'] == tables['after'])}")


def untracked() -> list[str]:
    done = subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True,
                          text=True, check=True)  # fmt: skip
    return done.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/synthetic_demo", help="dataset of the grid's dry run")
    parser.add_argument("--status", help="an experiment folder to time `status` on")
    parser.add_argument("--demo", help="a git ref to time the demo against (two full demos, about 15 minutes)")
    args = parser.parse_args()
    grid(args.data)
    if args.status:
        status(args.status)
    if args.demo:
        demo(args.demo)


if __name__ == "__main__":
    main()
