"""Bake prefixed DPO files dpo/<method>/{train,test}.jsonl from pairs and prefixes (TRL's conversational format).

A training set `a+b` (famous_persona.methods) gets dpo/a+b/train.jsonl only: the train rows of each part in order,
each part baked from its own prefix file (a persona task from its source's), so every check runs per part.
Leakage rules are enforced here as well as tested: no prefix shows a test pair, by its id among the shots or by its
text (the question or either answer pasted into the prefix), and no training row sees itself.
A persona prefix follows the lead-in line of famous_persona/wording.yaml, or of `--wording FILE` (which also words a
persona task's request); the dataset manifest records the digest of the words each bake used.
Usage: `python -m sampling.prefixes.bake --data data/my_world --methods no_prefix persona_gold xyw_2s+persona_gold`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from trl import TrlParser

from famous_persona.chat import pair_record, user_turn
from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import DatasetDir, write_jsonl
from famous_persona.manifest import record_step
from famous_persona.methods import (
    is_persona_task,
    is_training_only,
    parse_method,
    parse_persona_task,
    split_training_set,
)
from famous_persona.schema import DpoRecord, Pair, Prefix
from famous_persona.wording import Wording, default_wording, load_wording
from sampling.prefixes.persona_task import task_records

# A test text shorter than this many words is not looked for in prefixes: a short answer can recur by chance.
MIN_LEAK_WORDS = 4
FIELDS = {"prompt": "question", "chosen": "chosen answer", "rejected": "rejected answer"}


class LeakageError(DataError):
    """A prefix that would show the model a pair it must not see."""


@dataclass
class BakeConfig:
    data: str = field(default="data/synthetic", metadata={"help": "Dataset directory."})
    methods: list[str] = field(default_factory=lambda: ["no_prefix"], metadata={"help": "Prefix methods to bake."})
    wording: str | None = field(
        default=None,
        metadata={
            "help": "YAML whose lead_in or persona_* fields replace the shipped ones (famous_persona/wording.yaml)."
        },
    )


def _lookup(prefixes: Sequence[Prefix]) -> dict[tuple[str, str | None], Prefix]:
    return {(prefix.name, prefix.pair_id): prefix for prefix in prefixes}


def _prefix_for(table: dict[tuple[str, str | None], Prefix], pair: Pair, method: str) -> Prefix:
    prefix = table.get((pair.name, pair.id)) or table.get((pair.name, None))
    if prefix is None:
        raise DataError(f"prefixes/{method}.jsonl has no prefix for {pair.name!r} (pair {pair.id})")
    return prefix


def _check_no_test_pairs(prefix: Prefix, test_ids: set[str], row: str) -> None:
    leaked = test_ids.intersection(prefix.shots)
    if leaked:
        raise LeakageError(f"{prefix.method}: prefix of {row} shows test pair(s) {sorted(leaked)}")


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def test_texts(pairs: Sequence[Pair]) -> dict[str, list[tuple[str, str, str]]]:
    """Per person, (pair id, what, normalised text) of the question and both answers of every test pair, less the
    texts one of their train pairs has word for word (a shot may show those: worlds reuse answer sentences)."""
    shown: dict[str, set[str]] = defaultdict(set)
    for pair in pairs:
        if pair.split == "train":
            shown[pair.name].update(_normal(getattr(pair, name)) for name in FIELDS)
    texts: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for pair in pairs:
        if pair.split != "test":
            continue
        for name, label in FIELDS.items():
            text = _normal(getattr(pair, name))
            if len(text.split()) >= MIN_LEAK_WORDS and text not in shown[pair.name]:
                texts[pair.name].append((pair.id, label, text))
    return texts


def check_prefix_texts(method: str, prefixes: Sequence[Prefix], texts: dict[str, list[tuple[str, str, str]]]) -> None:
    """No prefix text of a person contains one of that person's test questions or answers (whitespace and case
    aside), whatever its shots say."""
    for prefix in prefixes:
        body = _normal(prefix.text)
        for pair_id, what, text in texts.get(prefix.name, ()):
            if text in body:
                which = f"prefix of pair {prefix.pair_id}" if prefix.pair_id else "prefix"
                raise LeakageError(
                    f"prefixes/{method}.jsonl: the {which} of {prefix.name!r} contains the {what} of test pair "
                    f"{pair_id}"
                )


def _check_leakage(pair: Pair, prefix: Prefix, test_ids: set[str]) -> None:
    _check_no_test_pairs(prefix, test_ids, pair.id)
    if pair.split == "train" and pair.id in prefix.shots:
        raise LeakageError(f"{prefix.method}: training row {pair.id} would see itself in its prefix")


def bake_records(
    method: str, pairs: Sequence[Pair], prefixes: Sequence[Prefix], split: str, wording: Wording | None = None
) -> list[DpoRecord]:
    table = _lookup(prefixes)
    test_ids = {pair.id for pair in pairs if pair.split == "test"}
    check_prefix_texts(method, prefixes, test_texts(pairs))
    records = []
    for pair in pairs:
        if pair.split != split:
            continue
        prefix = _prefix_for(table, pair, method)
        _check_leakage(pair, prefix, test_ids)
        records.append(pair_record(pair, user_turn(method, prefix.text, pair.prompt, wording)))
    return records


def _wording_used(wording: Wording, parts: Sequence[str]) -> dict[str, Any]:
    """The manifest's account of the words baked into rows: the lead-in of persona prefixes, a persona task's
    request; other rows hold no words of the wording file, so their entry says nothing of it."""
    used = ["lead_in"] if any(not is_persona_task(part) and parse_method(part).persona for part in parts) else []
    used += ["persona"] if any(is_persona_task(part) for part in parts) else []
    return {"wording": wording.record(*used)} if used else {}


def _bake_method(dataset: DatasetDir, method: str, pairs: Sequence[Pair], wording: Wording) -> None:
    prefixes = dataset.prefixes(method)
    counts = {}
    for split in ("train", "test"):
        records = bake_records(method, pairs, prefixes, split, wording)
        write_jsonl(dataset.dpo_path(method, split), records)
        counts[split] = len(records)
    record_step(dataset.manifest_path, "baked", method, **counts, **_wording_used(wording, [method]))


def _task_part(
    dataset: DatasetDir, part: str, pairs: Sequence[Pair], wording: Wording
) -> tuple[list[DpoRecord], dict[str, int]]:
    """A persona task's rows; its chosen and rejected personas must not have been built from test pairs either."""
    task = parse_persona_task(part)
    personas = dataset.prefixes(task.source.name)
    test_ids = {pair.id for pair in pairs if pair.split == "test"}
    for persona in personas:
        _check_no_test_pairs(persona, test_ids, f"the persona of {persona.name}")
    check_prefix_texts(task.source.name, personas, test_texts(pairs))
    built = task_records(task, dataset.personas(), pairs, personas, wording)
    return built.records, {"skipped_identical": built.skipped}


def _part_rows(
    dataset: DatasetDir, part: str, pairs: Sequence[Pair], wording: Wording
) -> tuple[list[DpoRecord], dict[str, int]]:
    if is_persona_task(part):
        return _task_part(dataset, part, pairs, wording)
    return bake_records(part, pairs, dataset.prefixes(part), "train", wording), {}


def _bake_training_set(dataset: DatasetDir, name: str, pairs: Sequence[Pair], wording: Wording) -> None:
    """Train rows only: a mix or a task trains a model, which is then tested with a single prefix method."""
    records, parts = [], []
    for part in split_training_set(name):
        rows, info = _part_rows(dataset, part, pairs, wording)
        records += rows
        parts.append({"part": part, "train": len(rows), **info})
    write_jsonl(dataset.dpo_path(name, "train"), records)
    used = _wording_used(wording, split_training_set(name))
    record_step(dataset.manifest_path, "baked", name, train=len(records), parts=parts, **used)


def bake(dataset: DatasetDir, methods: Sequence[str], wording: Wording | None = None) -> None:
    """Bake each prefix method (train and test) or training set (train only) named in `methods`, in `wording` (None:
    the shipped one)."""
    pairs, wording = dataset.pairs(), wording or default_wording()
    for name in methods:
        if is_training_only(name):
            _bake_training_set(dataset, name, pairs, wording)
        else:
            _bake_method(dataset, name, pairs, wording)


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("bake", [BakeConfig], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (config,) = parse_config(parser or make_parser(), args)
    bake(DatasetDir(config.data), config.methods, load_wording(config.wording))
    print(f"baked {len(config.methods)} methods into {DatasetDir(config.data).root / 'dpo'}")


if __name__ == "__main__":
    main()
