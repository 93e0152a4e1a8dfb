"""`famous-persona status DIR`: a row per run and step of every plan run into an experiment folder (done, stale and
which key changed, running, interrupted, failed with its last error line, new) with its seconds and headline
accuracy; exit status 0 only when every step is done. `--json` prints the same rows as a list of objects."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from famous_persona.config import Subparsers, leading_word, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import read_json
from planner.digests import DigestCache
from planner.ledger import Ledger, state
from planner.steps import Step, key_steps


@dataclass
class StatusOptions:
    experiment_dir: str = field(default="", metadata={"help": "The experiment folder (a plan's --out)."})
    json: bool = field(default=False, metadata={"help": "Print the rows as JSON."})


def accuracy(step: Step) -> str:
    """`seen 0.688 unseen 0.667` (ref_free_avg) of a finished score step, else empty."""
    path = Path(step.done)
    if step.kind != "score" or not path.is_file():
        return ""
    cells = read_json(path)["accuracy"]["ref_free_avg"]
    return " ".join(f"{g} {cells[f'{g}/total']['accuracy']:.3f}" for g in ("seen", "unseen") if f"{g}/total" in cells)


def rows(out: Path) -> list[dict[str, Any]]:
    """One row per step of every plan recorded in the folder (a step two plans share is shown once)."""
    ledger = Ledger(out)
    plans = ledger.plans()
    if not plans:
        raise DataError(f"{out}: no plan has been run into this folder ({ledger.root}/plan-*.json is missing)")
    steps: dict[str, Step] = {}
    for plan in plans:
        steps.update({step.name: step for step in plan.steps})
    ordered = list(steps.values())
    key_steps(ordered, DigestCache(ledger.root / "digests.json"))
    table = []
    for step in ordered:
        status, why = state(step, ledger)
        record = ledger.read(step.name) or {}
        seconds = record.get("seconds") if status in ("done", "failed") else None
        table.append({"run": step.run, "step": step.name, "state": status, "why": why, "seconds": seconds,
                      "accuracy": accuracy(step) if status == "done" else ""})  # fmt: skip
    return table


def show(table: list[dict[str, Any]]) -> str:
    width = max(len(row["step"]) for row in table)
    lines = [f"{'state':<11} {'step':<{width}} {'seconds':>8}  accuracy / why"]
    for row in table:
        seconds = f"{row['seconds']:.0f}" if row["seconds"] is not None else "-"
        detail = row["accuracy"] or row["why"]
        lines.append(f"{row['state']:<11} {row['step']:<{width}} {seconds:>8}  {detail}")
    counts: dict[str, int] = {}
    for row in table:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    lines.append(", ".join(f"{n} {name}" for name, n in sorted(counts.items())))
    return "\n".join(lines)


def make_parser(subparsers: Subparsers | None = None):
    return stage_parser("status", [StatusOptions], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser=None) -> None:
    (options,) = parse_config(parser or make_parser(), leading_word(args, "experiment_dir"))
    if not options.experiment_dir:
        raise DataError("command line: name the experiment folder: famous-persona status DIR")
    table = rows(Path(options.experiment_dir))
    print(json.dumps(table, indent=1) if options.json else show(table))
    raise SystemExit(0 if all(row["state"] == "done" for row in table) else 1)


if __name__ == "__main__":
    main()
