"""Split scoring over processes by person (a person's prefix stays in one shard) and merge the parts back.

Processes started together by a launcher split the people with accelerate and gather their rows in memory; shards
started one by one (`--num_shards N --shard_index i`) each write <out>/shards/<index>-of-<count>.jsonl. Either way
the merge checks that every pair comes back exactly once; shard files are removed once the merged files are written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from famous_persona.errors import DataError
from famous_persona.io import RecordError, read_rows, write_jsonl
from famous_persona.schema import DpoRecord


def checked_shard(shard_index: int, num_shards: int) -> tuple[int, int]:
    """The shard given on the command line, refused when out of range."""
    if not 0 <= shard_index < num_shards:
        raise DataError(f"shard_index must be in 0..{num_shards - 1}, got {shard_index}")
    return shard_index, num_shards


def people(records: Sequence[DpoRecord]) -> list[str]:
    """Everyone with a record, in name order: what launched processes split between them."""
    return sorted({record.name for record in records})


def select(records: Sequence[DpoRecord], index: int, count: int) -> list[DpoRecord]:
    """The records of every count-th person in name order, starting at `index`."""
    mine = set(people(records)[index::count])
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
        rows = [row for path in paths for row in read_rows(path)]
    except RecordError:
        if all(path.is_file() for path in paths):
            raise
        return None
    return merge_rows(rows, records, out / "shards")


def merge_rows(rows: Sequence[dict[str, Any]], records: Sequence[DpoRecord], where: Path) -> list[dict[str, Any]]:
    """The rows in the order of `records`, once every pair came back exactly once (a located error otherwise)."""
    seen = Counter(row["id"] for row in rows)
    wanted = {record.id for record in records}
    problems = {
        "scored twice": sorted(i for i, n in seen.items() if n > 1),
        "missing": sorted(wanted - set(seen)),
        "not in the test file": sorted(set(seen) - wanted),
    }
    found = "; ".join(f"{what}: {ids[:5]}" for what, ids in problems.items() if ids)
    if found:
        raise DataError(f"{where}: {found}")
    by_id = {row["id"]: row for row in rows}
    return [by_id[record.id] for record in records]


def clear(out: Path, count: int) -> None:
    """Remove merged shards, so a forced re-run never merges a stale one."""
    for index in range(count):
        shard_path(out, index, count).unlink(missing_ok=True)
