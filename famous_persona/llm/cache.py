"""A persistent request cache on disk (SQLite, WAL): a finished request is stored the moment it returns, so a crash
loses only the requests in flight and a re-run never pays twice. It stores final replies and token counts, and every
reply that was not usable (with its attempt, its seed and why), so the next ask of that request uses the next seed:
against a deterministic server the same seed can only return the same unusable reply. Everything is scrubbed of any
credential the process knows.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from famous_persona import progress
from famous_persona.llm.backend import Backend, Check, Completion, Request, Tally, basic_problem
from famous_persona.redaction import scrub

SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    finish_reason TEXT,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    written_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE TABLE IF NOT EXISTS rejected (
    key TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    seed INTEGER,
    reason TEXT NOT NULL,
    text TEXT NOT NULL,
    finish_reason TEXT,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    written_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (key, attempt)
);
"""
# Columns added since the first schema; a cache written before them gets them on open (attempt 0, seed unknown).
ADDED = {"attempt": "INTEGER NOT NULL DEFAULT 0", "seed": "INTEGER"}


class RequestCache:
    """Key → completion; every `put` and `reject` is its own committed transaction."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(completions)")}
        for column, kind in ADDED.items():
            if column not in have:
                self._db.execute(f"ALTER TABLE completions ADD COLUMN {column} {kind}")

    def get(self, key: str) -> Completion | None:
        columns = "text, finish_reason, prompt_tokens, completion_tokens, attempt, seed"
        row = self._db.execute(f"SELECT {columns} FROM completions WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return Completion(*row[:4], cached=True, attempt=row[4], seed=row[5])

    def put(self, key: str, model: str, completion: Completion) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO completions (key, model, text, finish_reason, prompt_tokens, completion_tokens, "
            "attempt, seed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                scrub(model),
                scrub(completion.text),
                completion.finish_reason,
                completion.prompt_tokens,
                completion.completion_tokens,
                completion.attempt,
                completion.seed,
            ),
        )

    def reject(self, key: str, completion: Completion, reason: str) -> None:
        """Record an unusable reply under its attempt, so the next ask moves on to the next attempt's seed."""
        self._db.execute(
            "INSERT OR REPLACE INTO rejected (key, attempt, seed, reason, text, finish_reason, prompt_tokens, "
            "completion_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                completion.attempt,
                completion.seed,
                reason,
                scrub(completion.text),
                completion.finish_reason,
                completion.prompt_tokens,
                completion.completion_tokens,
            ),
        )

    def next_attempt(self, key: str) -> int:
        """The attempt the next ask of `key` is: one past the last unusable reply recorded (0 for a new request)."""
        row = self._db.execute("SELECT MAX(attempt) FROM rejected WHERE key = ?", (key,)).fetchone()
        return 0 if row[0] is None else row[0] + 1

    def rejections(self, key: str) -> list[tuple[int, int | None, str]]:
        """(attempt, seed, reason) of every unusable reply to `key`, in order."""
        query = "SELECT attempt, seed, reason FROM rejected WHERE key = ? ORDER BY attempt"
        return [tuple(row) for row in self._db.execute(query, (key,))]

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        self._db.close()


@dataclass
class Results:
    """Replies by request id (the last one each got); `failures` got none, `rejected` got only replies that were not
    final, `problems` says why each reply that is not usable is not (final or not)."""

    completions: dict[str, Completion]
    failures: dict[str, str]
    rejected: set[str] = field(default_factory=set)
    problems: dict[str, str] = field(default_factory=dict)


async def run_cached(
    requests: Sequence[Request],
    backend: Backend,
    cache: RequestCache,
    tally: Tally,
    price: Callable[[str, int, int], float] | None = None,
    accept: Callable[[Completion], bool] | None = None,
    desc: str = "requests",
    check: Check | None = None,
    reasks: int = 0,
) -> Results:
    """Serve what the cache has; send the rest through the backend, storing each reply as soon as it arrives.

    `check` says why a reply is not usable (default: empty or cut); `accept` says whether a reply is final (default:
    usable by `check`). A final reply is cached; any other is recorded as a rejected attempt and asked again, with
    the next attempt's seed, up to `reasks` times in this call and again by the next run. On a terminal a bar named
    `desc` shows replies done, requests in flight and cache hits."""
    problem = check or basic_problem

    def final(completion: Completion) -> bool:
        return problem(completion) is None if accept is None else accept(completion)

    done: dict[str, Completion] = {}
    missing: list[Request] = []
    for request in requests:
        hit = cache.get(request.key)
        if hit is None or not final(hit):
            missing.append(request)
        else:
            done[request.id] = hit
            tally.cached += 1
    unique = [dataclasses.replace(r, attempt=cache.next_attempt(r.key)) for r in _unique(missing)]
    by_key, reasons = await _send_rounds(unique, backend, cache, tally, price, final, problem, reasks, desc, len(done))
    failures = {}
    for request in missing:
        if request.key in by_key:
            done[request.id] = by_key[request.key]
        else:
            failures[request.id] = reasons.get(request.key, "no reply")
    tally.failed += len(failures)
    tally.unusable += sum(not c.usable for c in done.values())
    problems = {rid: why for rid, c in done.items() if (why := problem(c))}
    return Results(done, failures, {rid for rid, c in done.items() if not final(c)}, problems)


async def _send_rounds(
    unique: list[Request],
    backend: Backend,
    cache: RequestCache,
    tally: Tally,
    price: Callable[[str, int, int], float] | None,
    final: Callable[[Completion], bool],
    problem: Check,
    reasks: int,
    desc: str,
    hits: int,
) -> tuple[dict[str, Completion], dict[str, str]]:
    """Send `unique` requests, then re-ask those whose reply was not final, each round with the next seed; returns
    the last reply per key and the failure reason of keys that got none."""
    by_key: dict[str, Completion] = {}
    reasons: dict[str, str] = {}
    shown = progress.bar(hits + len(unique), desc, unit="req", initial=hits)
    shown.set_postfix(in_flight=min(backend.concurrency, len(unique)), cached=hits)
    pending = unique

    def store(request: Request, completion: Completion) -> None:
        completion.attempt, completion.seed = request.attempt, request.seed
        if final(completion):
            cache.put(request.key, request.model, completion)
        else:
            cache.reject(request.key, completion, problem(completion) or "not accepted")
        by_key[request.key] = completion
        tally.sent += 1
        tally.prompt_tokens += completion.prompt_tokens
        tally.completion_tokens += completion.completion_tokens
        if price is not None:
            tally.cost_usd += price(request.model, completion.prompt_tokens, completion.completion_tokens)
        shown.update()

    with shown:
        for round_no in range(reasks + 1):
            failed = await backend.run(pending, store) if pending else {}
            reasons |= {r.key: failed[r.id] for r in pending if r.id in failed}
            again = [r for r in pending if r.key in by_key and not final(by_key[r.key])]
            if round_no == reasks or not again:
                break
            pending = [dataclasses.replace(r, attempt=r.attempt + 1) for r in again]
            tally.reasked += len(pending)
            shown.total += len(pending)
            shown.set_postfix(in_flight=min(backend.concurrency, len(pending)), reasked=tally.reasked, refresh=False)
    return by_key, reasons


def _unique(requests: Sequence[Request]) -> list[Request]:
    seen: set[str] = set()
    return [r for r in requests if not (r.key in seen or seen.add(r.key))]
