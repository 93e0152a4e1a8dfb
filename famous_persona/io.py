"""Validated JSONL and JSON files, written atomically, and the dataset directory layout (docs/design.md §4)."""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from famous_persona.errors import DataError
from famous_persona.methods import MIX, is_training_only, split_training_set
from famous_persona.redaction import scrub
from famous_persona.schema import DpoRecord, Pair, Persona, Prefix

T = TypeVar("T", bound=BaseModel)


class RecordError(DataError):
    """A bad record, located by file, line and field so it can be fixed by hand."""

    def __init__(self, path: Path | str, line: int | None, field: str | None, problem: str):
        self.path, self.line, self.field, self.problem = Path(path), line, field, problem
        where = f"{path}:{line}" if line is not None else str(path)
        what = f" field '{field}'" if field else ""
        super().__init__(f"{where}:{what} {problem}")


def _first_problem(error: ValidationError) -> tuple[str | None, str]:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    return field, first["msg"]


MAX_LINE_BYTES = int(os.environ.get("FAMOUS_PERSONA_MAX_LINE_BYTES", 1 << 20))
"""The longest JSONL line read (1 MiB; the environment variable FAMOUS_PERSONA_MAX_LINE_BYTES changes it): a longer
line is an error, not a memory blow-up. The project's own lines are a few kilobytes."""


def decode(path: Path, first_line: int, data: bytes) -> str:
    """UTF-8 text, or an error naming the line and column of the first bad byte (`data` starts at `first_line`)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        start = data.rfind(b"\n", 0, error.start) + 1
        line = first_line + data.count(b"\n", 0, error.start)
        column = len(data[start : error.start].decode("utf-8", errors="replace")) + 1
        problem = f"not UTF-8 text (byte 0x{data[error.start]:02x} at column {column}); save the file as UTF-8"
        raise RecordError(path, line, None, problem) from None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line, each at most MAX_LINE_BYTES and valid UTF-8."""
    if not path.is_file():
        raise RecordError(path, None, None, "file not found")
    with path.open("rb") as handle:
        for number, data in enumerate(iter(lambda: handle.readline(MAX_LINE_BYTES + 1), b""), start=1):
            if len(data) > MAX_LINE_BYTES and not data.endswith(b"\n"):
                raise RecordError(
                    path, number, None, f"line longer than {MAX_LINE_BYTES} bytes (FAMOUS_PERSONA_MAX_LINE_BYTES)"
                )
            yield number, decode(path, number, data)


def _objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, JSON object) for every non-blank line; a missing file or a bad line is a located error, and a
    bad last line without its newline is named as a file cut short."""
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as error:
            cut = "; the file ends mid-line, as a copy or write cut short leaves it" if not line.endswith("\n") else ""
            raise RecordError(
                path, number, None, f"malformed JSON ({error.msg} at column {error.colno}){cut}"
            ) from None
        if not isinstance(raw, dict):
            raise RecordError(path, number, None, f"expected a JSON object, got {type(raw).__name__}")
        yield number, raw


def read_rows(path: Path | str) -> list[dict[str, Any]]:
    """Every JSON object of a JSONL file, unvalidated: for files this project wrote itself (logs, shards)."""
    return [raw for _, raw in _objects(Path(path))]


def read_jsonl(
    path: Path | str,
    model: type[T],
    unique: str | None = None,
    known: Mapping[str, Iterable[str]] | None = None,
) -> list[T]:
    """Read and validate every line; `unique` names a field that must not repeat, `known` fields whose values must be
    in a given set (e.g. pair names among the people)."""
    path = Path(path)
    allowed = {field: set(values) for field, values in (known or {}).items()}
    seen: dict[Any, int] = {}
    records: list[T] = []
    for number, raw in _objects(path):
        try:
            record = model.model_validate(raw)
        except ValidationError as error:
            field, problem = _first_problem(error)
            raise RecordError(path, number, field, problem) from None
        for field, values in allowed.items():
            if getattr(record, field) not in values:
                raise RecordError(path, number, field, f"unknown value {getattr(record, field)!r}")
        if unique is not None:
            value = getattr(record, unique)
            if value in seen:
                raise RecordError(path, number, unique, f"duplicate {value!r} (first on line {seen[value]})")
            seen[value] = number
        records.append(record)
    return records


def _atomic_write_text(path: Path, text: str) -> None:
    """Every JSON and JSONL file goes through here, so no credential known to the process reaches one."""
    atomic_write_bytes(path, scrub(text).encode("utf-8"))


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write to a temporary file beside `path` and rename it, so a crash never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _plain(record: BaseModel | Mapping[str, Any]) -> Mapping[str, Any]:
    return record.model_dump(mode="json") if isinstance(record, BaseModel) else record


def write_jsonl(path: Path | str, records: Iterable[BaseModel | Mapping[str, Any]]) -> None:
    """Write all records or nothing: a crash never leaves a half-written file behind."""
    lines = [json.dumps(_plain(record), ensure_ascii=False) + "\n" for record in records]
    _atomic_write_text(Path(path), "".join(lines))


def write_json(path: Path | str, obj: Any) -> None:
    _atomic_write_text(Path(path), json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def write_text(path: Path | str, text: str) -> None:
    """A text file (a CSV table, a Markdown table, an HTML page) written whole or not at all."""
    _atomic_write_text(Path(path), text)


def write_csv(path: Path | str, frame: Any) -> None:
    """A pandas table as CSV without its index, written whole or not at all."""
    write_text(path, frame.to_csv(index=False))


def save_figure(figure: Any, path: Path | str, **options: Any) -> None:
    """A matplotlib figure rendered in memory, then written whole or not at all (a reader never sees half a PNG)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=Path(path).suffix.lstrip(".") or "png", **options)
    atomic_write_bytes(path, buffer.getvalue())


def read_json(path: Path | str) -> Any:
    path = Path(path)
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise RecordError(path, error.lineno, None, f"malformed JSON ({error.msg})") from None


def read_text(path: Path | str) -> str:
    """A whole text file as UTF-8; a missing file or a bad byte is a located error."""
    path = Path(path)
    if not path.is_file():
        raise RecordError(path, None, None, "file not found")
    return decode(path, 1, path.read_bytes())


class DatasetDir:
    """Paths and validated loaders of one dataset directory."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    @property
    def personas_path(self) -> Path:
        return self.root / "personas.jsonl"

    @property
    def pairs_path(self) -> Path:
        return self.root / "pairs.jsonl"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def prefix_path(self, method: str) -> Path:
        return self.root / "prefixes" / f"{method}.jsonl"

    def dpo_path(self, method: str, split: str) -> Path:
        return self.root / "dpo" / method / f"{split}.jsonl"

    def personas(self) -> list[Persona]:
        people = read_jsonl(self.personas_path, Persona, unique="name")
        keys: dict[str, str] = {}
        for number, person in enumerate(people, start=1):
            if person.key in keys:
                raise RecordError(self.personas_path, number, "key", f"duplicate key {person.key!r}")
            keys[person.key] = person.name
        return people

    def pairs(self) -> list[Pair]:
        names = [person.name for person in self.personas()]
        return read_jsonl(self.pairs_path, Pair, unique="id", known={"name": names})

    def prefixes(self, method: str) -> list[Prefix]:
        names = [person.name for person in self.personas()]
        return read_jsonl(self.prefix_path(method), Prefix, known={"name": names})

    def dpo(self, method: str, split: str) -> list[DpoRecord]:
        """Baked rows; a mix repeats a pair's id once per part, every other file has unique ids. A name outside the
        grammar is refused before any file is looked for."""
        split_training_set(method)
        if split == "test" and is_training_only(method):
            raise DataError(
                f"{method!r} is a training set (a '{MIX}' mix or a persona task) and has no test pairs; "
                "test with a single prefix method instead"
            )
        names = [person.name for person in self.personas()]
        unique = None if MIX in method else "id"
        return read_jsonl(self.dpo_path(method, split), DpoRecord, unique=unique, known={"name": names})
