"""kill -9 in the middle of the candidate stage, then the same command again: it resumes from the request cache,
sends no finished request again, and writes a valid dataset."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from famous_persona.io import DatasetDir
from tests.support.generation import SECRET, files_containing, small_args
from tests.support.scripted_server import ScriptedServer
from tests.support.tiny_reward import build_tiny_reward_model

ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = 4


def _cached(cache: Path) -> int:
    if not cache.is_file():
        return 0
    try:
        with sqlite3.connect(cache, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_kill_9_then_resume(tmp_path):
    server = ScriptedServer(latency_s=0.03, api_key=SECRET).start()
    reward = build_tiny_reward_model(tmp_path / "reward")
    out = tmp_path / "gen"
    command = [
        sys.executable,
        "-m",
        "sampling.generation.generate",
        *small_args(out, server.base_url, reward, concurrency=CONCURRENCY, candidates=8),
    ]
    env = {**os.environ, "OPENAI_API_KEY": SECRET, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while _cached(out / "work" / "cache.sqlite") < 60 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.poll() is None, first.stdout.read().decode()[-2000:]
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    before = server.ledger.summary()
    assert not (out / "work" / "candidates.jsonl").exists(), "killed too late to test a mid-stage resume"
    assert 60 <= _cached(out / "work" / "cache.sqlite") <= before["served"]
    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    after = server.ledger.summary()
    server.shutdown()
    assert after["served_twice"] <= CONCURRENCY, "more than the in-flight requests were sent again"
    assert after["served"] - before["served"] < after["distinct"]
    assert DatasetDir(out).pairs()
    assert files_containing(out, SECRET) == [] and SECRET not in second.stdout + second.stderr
