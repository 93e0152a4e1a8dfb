"""YAML configs with command-line overrides, through TRL's parser (`--config file.yaml --key value`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import yaml
from trl import TrlParser

from famous_persona.errors import DataError
from famous_persona.io import read_text
from famous_persona.redaction import scrub

Subparsers = argparse._SubParsersAction
T = TypeVar("T")


class StageParser(TrlParser):
    """TRL's parser whose usage errors are one line, like every other bad input (docs/design.md §3)."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def stage_parser(
    command: str, dataclass_types: Sequence[type], doc: str | None, subparsers: Subparsers | None = None
) -> TrlParser:
    """A stage's parser: standalone for `python -m <module>`, or registered as `famous-persona <command>`."""
    options: dict[str, Any] = {"description": doc, "formatter_class": argparse.RawDescriptionHelpFormatter}
    if subparsers is None:
        return StageParser(list(dataclass_types), **options)
    return subparsers.add_parser(command, dataclass_types=list(dataclass_types), **options)


MINIMUMS = {
    name: 1
    for name in (
        "batch_size",
        "per_device_train_batch_size",
        "per_device_eval_batch_size",
        "gradient_accumulation_steps",
        "effective_batch_size",
        "refresh_batch_size",
        "reward_batch_size",
        "max_new_tokens",
        "num_shards",
        "n_boot",
    )
}
"""Counts that must be at least this in any config that has them (the project's dataclasses and transformers'
TrainingArguments alike): zero would fail deep inside a run, or loop forever."""


def load_yaml(path: Path | str) -> tuple[dict[str, Any], dict[str, int]]:
    """A YAML mapping and the line of each of its keys; a missing, non-UTF-8 or unparsable file is a located error."""
    path = Path(path)
    text = read_text(path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = " ".join(str(getattr(error, "problem", None) or error).split())
        raise DataError(f"{where}: not valid YAML ({problem})") from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise DataError(f"{path}:1: expected a mapping of key: value lines, got a YAML {type(data).__name__}")
    lines = {str(key.value): key.start_mark.line + 1 for key, _ in node.value}
    return data, lines


def _scalar_problem(action: argparse.Action, value: Any) -> str | None:
    """Why a YAML value cannot be this option's value (None when it can): YAML bypasses argparse's conversion, so a
    text is put through the option's own converter and anything else must already have the right type."""
    boolean = getattr(action.type, "__name__", "") == "string_to_bool"
    expected = "true or false" if boolean else {int: "an integer", float: "a number"}.get(action.type)
    if expected is not None:
        if isinstance(value, str):
            try:
                action.type(value)
            except (TypeError, ValueError, argparse.ArgumentTypeError):
                return f"expected {expected}, got {value!r}"
            return None
        allowed = bool if boolean else int if action.type is int else int | float
        if not isinstance(value, allowed) or (isinstance(value, bool) and not boolean):
            return f"expected {expected}, got {value!r}"
    if action.choices and str(value) not in {str(choice) for choice in action.choices}:
        return f"expected one of {[str(choice) for choice in action.choices]}, got {value!r}"
    return None


def _value_problem(action: argparse.Action, value: Any) -> str | None:
    if value is None:
        return None
    if action.nargs in ("+", "*"):
        if not isinstance(value, list):
            return f"expected a list, got {value!r}"
        return next((problem for item in value if (problem := _scalar_problem(action, item))), None)
    return _scalar_problem(action, value)


def check_yaml(parser: argparse.ArgumentParser, path: Path | str) -> dict[str, int]:
    """Each value of a YAML config checked against its option's type and choices; returns each key's line."""
    data, lines = load_yaml(path)
    actions = {action.dest: action for action in parser._actions}
    for key, value in data.items():
        action = actions.get(key)
        problem = _value_problem(action, value) if action is not None else None
        if problem:
            raise DataError(f"{path}:{lines[str(key)]}: {key}: {problem}")
    return lines


def _check_minimums(configs: Sequence[Any], where: Callable[[str], str]) -> None:
    """Counts that must be positive (batch sizes, resamples, ...) are refused at load, not deep inside a run."""
    for config in configs:
        for item in fields(config) if is_dataclass(config) else ():
            least = MINIMUMS.get(item.name)
            value = getattr(config, item.name, None)
            if least is not None and isinstance(value, int | float) and value < least:
                raise DataError(f"{where(item.name)}: {item.name}: must be at least {least}, got {value}")


def command_line_keys(args: Iterable[str]) -> set[str]:
    """The keys a command line sets itself (`--key value` or `--key=value`), as dataclass field names."""
    return {arg.removeprefix("--").partition("=")[0].replace("-", "_") for arg in args if arg.startswith("--")}


def parse_config(parser: TrlParser | Sequence[type], args: Iterable[str] | None = None) -> tuple[Any, ...]:
    """Defaults from the dataclasses, replaced by the YAML file, replaced by the command line; any bad key or value
    is a DataError that names the YAML file and line, or the command line."""
    args = list(args) if args is not None else sys.argv[1:]
    if not isinstance(parser, TrlParser):
        parser = StageParser(list(parser))
    path = args[args.index("--config") + 1] if "--config" in args[:-1] else None
    lines = check_yaml(parser, path) if path is not None else {}
    given = command_line_keys(args)

    def where(key: str) -> str:
        return f"{path}:{lines[key]}" if key in lines and key not in given else "command line"

    try:
        *configs, from_file, from_line = parser.parse_args_and_config(
            args, return_remaining_strings=True, separate_remaining_strings=True
        )
    except ValueError as error:
        raise DataError(f"{path or 'command line'}: {' '.join(scrub(str(error)).split())}") from None
    if from_file:
        unknown = [item.removeprefix("--") for item in from_file[::2]]
        known = sorted(action.dest for action in parser._actions if action.dest != "help")
        raise DataError(f"{path}:{lines.get(unknown[0], 1)}: unknown key(s) {unknown}; known keys: {known}")
    if from_line:
        raise DataError(f"command line: unknown option(s) {from_line} (see --help)")
    _check_minimums(configs, where)
    return tuple(configs)


def leading_word(args: Sequence[str] | None, option: str) -> list[str]:
    """The command line with a leading bare word read as `--option word`, as in `famous-persona run cv` or
    `famous-persona status DIR`."""
    args = list(sys.argv[1:] if args is None else args)
    return [f"--{option}", *args] if args and not args[0].startswith("-") else args


def read_config(path: Path | str, dataclass_type: type[T], overrides: Sequence[str] = ()) -> T:
    """One dataclass from a YAML file and `--key value` overrides, through the same parser and checks as every
    stage."""
    parser = StageParser([dataclass_type])
    known = sorted(action.dest for action in parser._actions if action.dest != "help")
    unknown = [key.removeprefix("--") for key in overrides[::2] if key.removeprefix("--") not in known]
    if unknown:
        raise DataError(f"{path}: unknown key(s) {unknown} in the overrides; known keys: {known}")
    (config,) = parse_config(parser, ["--config", str(path), *overrides])
    return config
