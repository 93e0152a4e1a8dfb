"""YAML configs with command-line overrides, through TRL's parser (`--config file.yaml --key value`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from trl import TrlParser

from famous_persona.errors import DataError
from famous_persona.redaction import scrub

Subparsers = argparse._SubParsersAction
T = TypeVar("T")


def stage_parser(
    command: str, dataclass_types: Sequence[type], doc: str | None, subparsers: Subparsers | None = None
) -> TrlParser:
    """A stage's parser: standalone for `python -m <module>`, or registered as `famous-persona <command>`."""
    options: dict[str, Any] = {"description": doc, "formatter_class": argparse.RawDescriptionHelpFormatter}
    if subparsers is None:
        return TrlParser(list(dataclass_types), **options)
    return subparsers.add_parser(command, dataclass_types=list(dataclass_types), **options)


def parse_config(parser: TrlParser | Sequence[type], args: Iterable[str] | None = None) -> tuple[Any, ...]:
    """Defaults from the dataclasses, replaced by the YAML file, replaced by the command line."""
    args = list(args) if args is not None else sys.argv[1:]
    if not isinstance(parser, TrlParser):
        parser = TrlParser(list(parser))
    try:
        return tuple(parser.parse_args_and_config(args))
    except (ValueError, FileNotFoundError) as error:
        where = args[args.index("--config") + 1] if "--config" in args[:-1] else "command line"
        parser.error(f"{where}: {scrub(str(error))}")


def read_config(path: Path | str, dataclass_type: type[T], overrides: Sequence[str] = ()) -> T:
    """One dataclass from a YAML file and `--key value` overrides, through the same parser as every stage; an unknown
    key or a bad value is an error that names the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    parser = TrlParser([dataclass_type])
    try:
        config, rest = parser.parse_args_and_config(["--config", str(path), *overrides], return_remaining_strings=True)
    except ValueError as error:
        raise DataError(f"{path}: {error}") from None
    if rest:
        unknown = [item.removeprefix("--") for item in rest if item.startswith("--")]
        known = sorted(f.dest for f in parser._actions if f.dest != "help")
        raise DataError(f"{path}: unknown key(s) {unknown or rest}; known keys: {known}")
    return config
