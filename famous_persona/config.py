"""YAML configs with command-line overrides, through TRL's parser (`--config file.yaml --key value`)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

from trl import TrlParser


def parse_config(dataclass_types: Sequence[type], args: Iterable[str] | None = None) -> tuple[Any, ...]:
    """Defaults from the dataclasses, replaced by the YAML file, replaced by the command line."""
    args = list(args) if args is not None else sys.argv[1:]
    parser = TrlParser(list(dataclass_types))
    try:
        return tuple(parser.parse_args_and_config(args))
    except (ValueError, FileNotFoundError) as error:
        where = args[args.index("--config") + 1] if "--config" in args[:-1] else "command line"
        parser.error(f"{where}: {error}")
