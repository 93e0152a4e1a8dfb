"""A stand-in stage for the planner's tests, with no torch to import: it appends its name to a tally (so a test
counts how often each step ran), then writes its output, fails with a message, or sleeps first (to be killed)."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--tally", required=True)
    parser.add_argument("--value", default="0")
    parser.add_argument("--fail", default="")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--force", default="false")
    args = parser.parse_args()
    with open(args.tally, "a") as tally:
        tally.write(f"{args.name} {os.environ.get('CUDA_VISIBLE_DEVICES', '')}\n")
    time.sleep(args.sleep)
    if args.fail and Path(args.fail).exists():
        print("working...")
        raise SystemExit(f"the stage broke: {Path(args.fail).read_text().strip()}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "done.txt").write_text(f"{args.name} {args.value}\n")


if __name__ == "__main__":
    main()
