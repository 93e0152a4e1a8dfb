"""A plan of stand-in steps (tests.support.fake_stage) for the planner's tests: runs a and b, each of two steps, and
run c after both; `python -m tests.support.fake_plan ROOT [--sleep S] [--jobs N]` runs it as a runner would."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from planner.executors import slots
from planner.run import RunOptions, carry_out
from planner.steps import Plan, Step


def step(root: Path, name: str, run: str, deps=(), value="0", sleep=0.0, inputs=(), fail=None) -> Step:
    out = root / "exp" / name
    args = ["--name", name, "--out", str(out), "--tally", str(root / "tally"), "--value", value]
    args += ["--sleep", str(sleep)] + (["--fail", str(fail)] if fail else [])
    return Step(name, run, "train", "tests.support.fake_stage", args, str(out), str(out / "done.txt"),
                str(root / "exp" / run / "run.log"), inputs=[str(p) for p in inputs], deps=list(deps))  # fmt: skip


def plan(root: Path, sleep: float = 0.0, value: str = "0", fail=None) -> Plan:
    """a/train -> a/score, b/train -> b/score, then c/train after both scores; a reads ROOT/input.txt."""
    steps = [
        step(root, "a/train", "a", value=value, sleep=sleep, inputs=[root / "input.txt"]),
        step(root, "a/score", "a", deps=["a/train"]),
        step(root, "b/train", "b", sleep=sleep, fail=fail),
        step(root, "b/score", "b", deps=["b/train"]),
        step(root, "c/train", "c", deps=["a/score", "b/score"]),
    ]
    return Plan("fake", str(root / "exp"), steps)


def run(root: Path, jobs: int = 2, fail_fast: bool = False, **variant) -> int:
    options = RunOptions(plan="fake", jobs=jobs, fail_fast=fail_fast)
    return carry_out(plan(root, **variant), options, slots(0, 1, jobs), time.time())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--sleep", type=float, default=0.0)
    args = parser.parse_args()
    raise SystemExit(run(Path(args.root), sleep=args.sleep))


if __name__ == "__main__":
    main()
