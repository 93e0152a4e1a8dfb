"""The one way evaluation splits its work by person and merges it back, for scoring and response generation alike.

A person's prefix stays in one share. Processes started together by a launcher split the people with accelerate and
gather their rows in memory. Otherwise every piece of work is a *part* file of rows with the settings it was made
with beside it (`<part>.settings.json`, written first): scoring writes one part per shard started on its own
(`<out>/shards/<index>-of-<count>.jsonl`), generation one part per person as soon as it is done
(`<out>/people/<key>.jsonl`, so a rerun only makes the people still missing). Whoever finds every part present
merges them; the merge checks that every pair comes back exactly once and that every part was made with the same
model, data and settings as the merging process, and refuses, naming the part and the settings, otherwise.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import asdict
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


def part_settings(config: Any, own: Collection[str], test_file: Path, **extra: Any) -> dict[str, Any]:
    """What every part of one output must share to be merged: every option of `config` (as resolved) but the ones
    that are the part's own or change no number, `extra`, and the test file's SHA-256."""
    settings = {key: value for key, value in asdict(config).items() if key not in own}
    return {**settings, **extra, "test_file_sha256": hashlib.sha256(test_file.read_bytes()).hexdigest()}


def shard_path(out: Path, index: int, count: int) -> Path:
    return out / "shards" / f"{index}-of-{count}.jsonl"


def shard_paths(out: Path, count: int) -> list[Path]:
    return [shard_path(out, index, count) for index in range(count)]


def settings_path(part: Path) -> Path:
    return part.with_suffix(".settings.json")


def write_part(part: Path, rows: list[dict[str, Any]], settings: dict[str, Any]) -> None:
    """The settings first and the rows last, so a part whose rows exist always names its settings."""
    write_json(settings_path(part), settings)
    write_jsonl(part, rows)


def write_shard(out: Path, index: int, count: int, rows: list[dict[str, Any]], settings: dict[str, Any]) -> None:
    write_part(shard_path(out, index, count), rows, settings)


def read_parts(parts: Sequence[Path], settings: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Every part's rows, or None while a part is missing (not done, or already merged and cleared by another
    process); a part made with other settings than `settings` is refused."""
    try:
        rows = [row for part in parts for row in read_rows(part)]
    except RecordError:
        if all(part.is_file() for part in parts):
            raise
        return None
    for part in parts:
        check_settings(settings_path(part), settings)
    return rows


def merge(out: Path, records: Sequence[DpoRecord], count: int, settings: dict[str, Any]) -> list[dict[str, Any]] | None:
    """All shards' rows in the order of `records`, or None while a shard is missing."""
    rows = read_parts(shard_paths(out, count), settings)
    return None if rows is None else merge_rows(rows, records, out / "shards")


def check_settings(path: Path, settings: dict[str, Any]) -> None:
    """Refuse a part that was made with another model, data or setting than the merging process."""
    if not path.is_file():
        raise DataError(f"{path}: file not found: the part names no settings; make it again (or start over: --force)")
    recorded = read_json(path)
    changed = [key for key in sorted(set(recorded) | set(settings)) if recorded.get(key) != settings.get(key)]
    if changed:
        found = ", ".join(f"{key} {recorded.get(key)!r} there, {settings.get(key)!r} here" for key in changed)
        raise DataError(f"{path}: this part was made with other settings ({found}); make it again with these")


def merge_rows(rows: Sequence[dict[str, Any]], records: Sequence[DpoRecord], where: Path) -> list[dict[str, Any]]:
    """The rows in the order of `records`, once every pair came back exactly once (a located error otherwise)."""
    seen = Counter(row["id"] for row in rows)
    wanted = {record.id for record in records}
    problems = {
        "given twice": sorted(i for i, n in seen.items() if n > 1),
        "missing": sorted(wanted - set(seen)),
        "not in the test file": sorted(set(seen) - wanted),
    }
    found = "; ".join(f"{what}: {ids[:5]}" for what, ids in problems.items() if ids)
    if found:
        raise DataError(f"{where}: {found}")
    by_id = {row["id"]: row for row in rows}
    return [by_id[record.id] for record in records]


def clear(parts: Sequence[Path]) -> None:
    """Remove merged parts and their settings, so a forced rerun never merges a stale one."""
    for part in parts:
        part.unlink(missing_ok=True)
        settings_path(part).unlink(missing_ok=True)
