"""YAML configs with command-line overrides, through TRL's parser (`--config file.yaml --key value`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from trl import TrlParser

Subparsers = argparse._SubParsersAction


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
        parser.error(f"{where}: {error}")
