"""Split scoring over processes by person (a person's prefix stays in one shard) and merge the parts back.

Processes started together by a launcher split the people with accelerate and gather their rows in memory; shards
started one by one (`--num_shards N --shard_index i`) each write <out>/shards/<index>-of-<count>.jsonl and, before
it, the settings it was scored with beside it (`.settings.json`). Either way the merge checks that every pair comes
back exactly once, and a merge of shard files also that every shard names the same model, data and settings as the
merging process; shard files are removed once the merged files are written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from famous_persona.errors import DataError
from famous_persona.io import RecordError, read_json, read_rows, write_json, write_jsonl
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


def settings_path(out: Path, index: int, count: int) -> Path:
    return shard_path(out, index, count).with_suffix(".settings.json")


def write_shard(out: Path, index: int, count: int, rows: list[dict[str, Any]], settings: dict[str, Any]) -> None:
    """The settings first and the rows last, so a shard whose rows exist always names its settings."""
    write_json(settings_path(out, index, count), settings)
    write_jsonl(shard_path(out, index, count), rows)


def merge(out: Path, records: Sequence[DpoRecord], count: int, settings: dict[str, Any]) -> list[dict[str, Any]] | None:
    """All shards' rows in the order of `records`, or None while a shard is missing (not done, or already merged
    and cleared by another process); a shard scored with other settings than `settings` is refused."""
    paths = [shard_path(out, index, count) for index in range(count)]
    try:
        rows = [row for path in paths for row in read_rows(path)]
    except RecordError:
        if all(path.is_file() for path in paths):
            raise
        return None
    for index in range(count):
        check_settings(settings_path(out, index, count), settings)
    return merge_rows(rows, records, out / "shards")


def check_settings(path: Path, settings: dict[str, Any]) -> None:
    """Refuse a shard that was scored with another model, data or setting than the merging process."""
    if not path.is_file():
        raise DataError(f"{path}: file not found: the shard names no settings; score that shard again")
    recorded = read_json(path)
    changed = [key for key in sorted(set(recorded) | set(settings)) if recorded.get(key) != settings.get(key)]
    if changed:
        found = ", ".join(f"{key} {recorded.get(key)!r} there, {settings.get(key)!r} here" for key in changed)
        raise DataError(f"{path}: this shard was scored with other settings ({found}); score it again with these")


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
        settings_path(out, index, count).unlink(missing_ok=True)
