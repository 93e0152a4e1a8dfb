"""A persistent request cache on disk (SQLite, WAL): a finished request is stored the moment it returns, so a crash
loses only the requests in flight and a re-run never pays twice. It stores replies and token counts, never credentials.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sampling.llm import Completion

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
                model,
                completion.text,
                completion.finish_reason,
                completion.prompt_tokens,
                completion.completion_tokens,
            ),
        )

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        self._db.close()
