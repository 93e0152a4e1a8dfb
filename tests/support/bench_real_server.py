"""Benchmark: the small-model generation config (experiments/configs/generate/smollm2.yaml, 3 people) against
`transformers serve` + SmolLM2 on this machine, then the same config against the scripted server with injected faults
(run twice, as a user reruns the same command). Every line printed is `name=value`.
Usage: `python -m tests.support.bench_real_server [--quick] [--skip_real]`; `--quick` runs only the scripted part
(seconds), the real part takes minutes on two cores. The concurrency speedup is tests/support/bench_concurrency.py's.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

from famous_persona.io import read_json
from sampling.generation import generate
from tests.support import real_server
from tests.support.scripted_server import FAULT_MIX, ScriptedServer

FAULT_TRANSPORT = {"timeout_s": 0.5, "max_retries": 3, "backoff_base_s": 0.01, "backoff_max_s": 0.3, "concurrency": 8}


def run_once(args: list[str]) -> tuple[int, float, str]:
    """(exit status, wall seconds, stderr) of one generation run in this process."""
    err = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            generate.main(args)
            code = 0
        except SystemExit as stop:
            code = int(stop.code or 0)
    return code, time.perf_counter() - start, err.getvalue()


def figures(out: Path, prefix: str) -> list[str]:
    """`name=value` lines of a finished run: requests sent, usable fraction per stage, pairs against the target."""
    reports = {p.name.split(".")[0]: read_json(p) for p in sorted((out / "work").glob("*.report.json"))}
    account = read_json(out / "manifest.json")["account"]
    lines = [f"{prefix}requests_sent={sum(r['tally']['sent'] for r in reports.values())}"]
    lines.append(f"{prefix}reasked={sum(r['tally'].get('reasked', 0) for r in reports.values())}")
    for stage, replies in account["replies"].items():
        lines.append(
            f"{prefix}usable_{stage}={replies['usable'] / replies['asked']:.2f} ({replies['usable']}/"
            f"{replies['asked']})"
        )
    judge = account["judge"]
    lines += [f"{prefix}judge_{key}={judge[key]}" for key in ("tournaments", "tie", "unparseable")]
    lines += [f"{prefix}pairs={account['pairs']}", f"{prefix}target={account['target']}"]
    return lines


def real_part(root: Path) -> list[str]:
    """The 3-person run against `transformers serve` + SmolLM2, from a cold cache."""
    reason = real_server.missing()
    if reason:
        return [f"real_skipped=1 ({reason})"]
    with real_server.RealServer() as server:
        out = root / "real"
        code, seconds, _ = run_once(real_server.smollm2_args(out, server.base_url))
        ready = server.started_s
    return [f"real_server_ready_s={ready:.1f}", f"real_wall_s={seconds:.1f}", f"real_exit={code}"] + figures(
        out, "real_"
    )


def fault_part(root: Path, people: list[str] | None = None) -> list[str]:
    """The same config against the scripted server with faults, then the same command again: nothing that got a reply
    may be sent again unchanged (served twice), whatever the first run lost."""
    server = ScriptedServer(plan=FAULT_MIX).start()
    out = root / "faults"
    overrides = {**FAULT_TRANSPORT, **({"people": people} if people else {})}
    args = real_server.smollm2_args(out, server.base_url, **overrides)
    try:
        first, seconds, _ = run_once(args)
        second, _, _ = run_once(args)
    finally:
        server.shutdown()
        server.server_close()
    seen = server.ledger.summary()
    return [
        f"faults_wall_s={seconds:.1f}",
        f"faults_exit_first={first}",
        f"faults_exit_rerun={second}",
        f"faults_injected={sum(seen['faults'].values())}",
        f"faults_requests={seen['requests']}",
        f"faults_served_twice={seen['served_twice']}",
    ] + figures(out, "faults_")


def main(args: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Only the scripted part, with one person (seconds).")
    options = parser.parse_args(args)
    with tempfile.TemporaryDirectory() as root:
        if not options.quick:
            print("\n".join(real_part(Path(root))), flush=True)
        print("\n".join(fault_part(Path(root), ["Serena Williams"] if options.quick else None)), flush=True)


if __name__ == "__main__":
    main()
