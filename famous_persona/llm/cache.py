"""A persistent request cache on disk (SQLite, WAL): a finished request is stored the moment it returns, so a crash
loses only the requests in flight and a re-run never pays twice. It stores replies and token counts, scrubbed of any
credential the process knows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from famous_persona import progress
from famous_persona.llm.backend import Backend, Completion, Request, Tally
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
)
"""


class RequestCache:
    """Key → completion; every `put` is its own committed transaction."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(SCHEMA)

    def get(self, key: str) -> Completion | None:
        row = self._db.execute(
            "SELECT text, finish_reason, prompt_tokens, completion_tokens FROM completions WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        return Completion(
            text=row[0], finish_reason=row[1], prompt_tokens=row[2], completion_tokens=row[3], cached=True
        )

    def put(self, key: str, model: str, completion: Completion) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO completions (key, model, text, finish_reason, prompt_tokens, completion_tokens) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                key,
                scrub(model),
                scrub(completion.text),
                completion.finish_reason,
                completion.prompt_tokens,
                completion.completion_tokens,
            ),
        )

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        self._db.close()


@dataclass
class Results:
    """Replies by request id; `failures` got none, `rejected` got one that was empty, cut or unparseable."""

    completions: dict[str, Completion]
    failures: dict[str, str]
    rejected: set[str] = field(default_factory=set)


async def run_cached(
    requests: Sequence[Request],
    backend: Backend,
    cache: RequestCache,
    tally: Tally,
    price: Callable[[str, int, int], float] | None = None,
    accept: Callable[[Completion], bool] | None = None,
    desc: str = "requests",
) -> Results:
    """Serve what the cache has; send the rest through the backend, storing each reply as soon as it arrives. Only a
    reply that `accept` takes is stored (by default a usable one: an empty or cut reply is asked again by the next
    run); a caller that keeps cut replies, like persona inference, says so through `accept`. On a terminal a bar
    named `desc` shows replies done, requests in flight and cache hits."""

    def final(completion: Completion) -> bool:
        return completion.usable if accept is None else accept(completion)

    done: dict[str, Completion] = {}
    missing: list[Request] = []
    for request in requests:
        hit = cache.get(request.key)
        if hit is None or not final(hit):
            missing.append(request)
        else:
            done[request.id] = hit
            tally.cached += 1

    by_key: dict[str, Completion] = {}
    unique = _unique(missing)
    hits = len(requests) - len(missing)
    shown = progress.bar(hits + len(unique), desc, unit="req", initial=hits)
    shown.set_postfix(in_flight=min(backend.concurrency, len(unique)), cached=hits)

    def store(request: Request, completion: Completion) -> None:
        if final(completion):
            cache.put(request.key, request.model, completion)
        by_key[request.key] = completion
        tally.sent += 1
        tally.prompt_tokens += completion.prompt_tokens
        tally.completion_tokens += completion.completion_tokens
        if price is not None:
            tally.cost_usd += price(request.model, completion.prompt_tokens, completion.completion_tokens)
        shown.set_postfix(in_flight=min(backend.concurrency, len(unique) - len(by_key)), cached=hits, refresh=False)
        shown.update()

    with shown:
        failed = await backend.run(unique, store) if unique else {}
    reasons = {r.key: failed[r.id] for r in unique if r.id in failed}
    failures = {}
    for request in missing:
        if request.key in by_key:
            done[request.id] = by_key[request.key]
        else:
            failures[request.id] = reasons.get(request.key, "no reply")
    tally.failed += len(failures)
    tally.unusable += sum(not c.usable for c in done.values())
    return Results(done, failures, {rid for rid, c in done.items() if not final(c)})


def _unique(requests: Sequence[Request]) -> list[Request]:
    seen: set[str] = set()
    return [r for r in requests if not (r.key in seen or seen.add(r.key))]
