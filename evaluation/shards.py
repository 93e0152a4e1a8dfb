"""Split scoring over processes by person (a person's prefix stays in one shard) and merge the parts back.

Each shard writes <out>/shards/<index>-of-<count>.jsonl; the merge checks that every pair comes back exactly once
and removes the shards once the merged files are written.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from famous_persona.errors import DataError
from famous_persona.io import write_jsonl
from famous_persona.schema import DpoRecord


def from_launcher(shard_index: int, num_shards: int) -> tuple[int, int]:
    """The shard of this process: as given, or the process rank when a launcher (accelerate, torchrun) started
    several processes and no shards were given."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if num_shards == 1 and world > 1:
        return int(os.environ["RANK"]), world
    if not 0 <= shard_index < num_shards:
        raise DataError(f"shard_index must be in 0..{num_shards - 1}, got {shard_index}")
    return shard_index, num_shards


def select(records: Sequence[DpoRecord], index: int, count: int) -> list[DpoRecord]:
    """The records of every count-th person in name order, starting at `index`."""
    names = sorted({record.name for record in records})
    mine = set(names[index::count])
    return [record for record in records if record.name in mine]


def shard_path(out: Path, index: int, count: int) -> Path:
    return out / "shards" / f"{index}-of-{count}.jsonl"


def write_shard(out: Path, index: int, count: int, rows: list[dict[str, Any]]) -> None:
    write_jsonl(shard_path(out, index, count), rows)


def merge(out: Path, records: Sequence[DpoRecord], count: int) -> list[dict[str, Any]] | None:
    """All shards' rows in the order of `records`, or None while a shard is missing (not done, or already merged
    and cleared by another process)."""
    paths = [shard_path(out, index, count) for index in range(count)]
    try:
        rows = [json.loads(line) for path in paths for line in path.read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        return None
    seen = Counter(row["id"] for row in rows)
    wanted = {record.id for record in records}
    problems = {
        "scored twice": sorted(i for i, n in seen.items() if n > 1),
        "missing": sorted(wanted - set(seen)),
        "not in the test file": sorted(set(seen) - wanted),
    }
    found = "; ".join(f"{what}: {ids[:5]}" for what, ids in problems.items() if ids)
    if found:
        raise DataError(f"{out / 'shards'}: {found}")
    by_id = {row["id"]: row for row in rows}
    return [by_id[record.id] for record in records]


def clear(out: Path, count: int) -> None:
    """Remove merged shards, so a forced re-run never merges a stale one."""
    for index in range(count):
        shard_path(out, index, count).unlink(missing_ok=True)
