"""Import `zilu-peter-tang/famous-persona` (or a local copy laid out like it) into a dataset directory
(docs/design.md §4).

The field map's defaults follow the original's files: `name`, `prompt`, `yw`/`yl` or `chosen`/`rejected` (strings or
message lists), `question_type` (`personal`; `common` or `divergent` → divergent), `axis`, `split` (else the dataset
split's name). People come from the people table. With HF_HUB_OFFLINE set, a hub id fails at once with a message.
Usage: `python -m sampling.generation.hub_import --source zilu-peter-tang/famous-persona --out
data/famous_persona_hub`."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trl import TrlParser

from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import DatasetDir, RecordError, read_jsonl, write_jsonl
from famous_persona.manifest import write_manifest
from famous_persona.schema import Pair, Persona

HUB_ID = "zilu-peter-tang/famous-persona"
TYPES = {"personal": "personal", "common": "divergent", "divergent": "divergent"}


@dataclass
class HubImportConfig:
    source: str = field(default=HUB_ID, metadata={"help": "Hub dataset id or a local directory laid out like it."})
    out: str = field(default="data/famous_persona_hub", metadata={"help": "Dataset directory to write."})
    people_table: str = field(default="data/famous_persona/personas.jsonl", metadata={"help": "The people."})
    revision: str | None = field(default=None, metadata={"help": "Hub revision (commit or tag) to pin."})
    name_field: str = "name"
    prompt_field: str = "prompt"
    chosen_fields: list[str] = field(default_factory=lambda: ["yw", "chosen"], metadata={"help": "First present."})
    rejected_fields: list[str] = field(default_factory=lambda: ["yl", "rejected"], metadata={"help": "First present."})
    type_field: str = "question_type"
    axis_field: str = "axis"
    split_field: str = "split"


def offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def load(config: HubImportConfig) -> Any:
    """The DatasetDict of a local directory, or of the hub id when online; offline, a clear error at once."""
    import datasets

    if Path(config.source).exists():
        return datasets.load_dataset(str(config.source))
    if offline():
        raise DataError(
            f"'{config.source}' is not a local directory and HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set, so the hub "
            f"is not contacted. Get the data on a machine with access (`hf download {HUB_ID} --repo-type dataset "
            f"--local-dir data/hub/famous-persona`), then pass --source data/hub/famous-persona"
        )
    return datasets.load_dataset(config.source, revision=config.revision)


def text_of(value: Any, role: str) -> str | None:
    """A plain string, or the content of the last `role` message of a message list."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
        own = [m for m in value if m.get("role") == role] or value
        content = own[-1].get("content")
        return content if isinstance(content, str) else None
    return None


def _field(row: dict, names: list[str], where: tuple[str, int], role: str) -> str:
    for name in names:
        if name in row and row[name] is not None:
            value = text_of(row[name], role)
            if value is None:
                raise RecordError(where[0], where[1], name, "expected a string or a list of chat messages")
            return value
    raise RecordError(where[0], where[1], "/".join(names), f"missing (columns: {sorted(row)})")


def to_pair(row: dict, index: int, split_name: str, config: HubImportConfig, people: dict[str, Persona]) -> Pair:
    where = (f"{config.source}[{split_name}] row", index + 1)
    name = _field(row, [config.name_field], where, "user")
    if name not in people:
        raise RecordError(*where, config.name_field, f"{name!r} is not in {config.people_table}")
    raw_type = _field(row, [config.type_field], where, "user")
    if raw_type not in TYPES:
        raise RecordError(
            *where, config.type_field, f"unknown question type {raw_type!r}; expected one of {list(TYPES)}"
        )
    kind = TYPES[raw_type]
    axis = row.get(config.axis_field) if kind == "divergent" else None
    if kind == "divergent" and not axis:
        own = list(people[name].axes)
        axis = own[0] if len(own) == 1 else None
        if axis is None:
            raise RecordError(*where, config.axis_field, f"a divergent row needs an axis ({name} has {own})")
    split = row.get(config.split_field) or split_name
    if split not in ("train", "test"):
        raise RecordError(*where, config.split_field, f"split must be train or test, got {split!r}")
    return Pair(
        id=f"{people[name].key}-{split_name}-{index:05d}",
        name=name,
        prompt=_field(row, [config.prompt_field], where, "user"),
        chosen=_field(row, config.chosen_fields, where, "assistant"),
        rejected=_field(row, config.rejected_fields, where, "assistant"),
        question_type=kind,
        axis=axis,
        split=split,
        meta={"source": config.source, "source_split": split_name, "source_row": index},
    )


def import_dataset(config: HubImportConfig) -> DatasetDir:
    table = {p.name: p for p in read_jsonl(config.people_table, Persona, unique="name")}
    data = load(config)
    pairs = [
        to_pair(dict(row), index, split_name, config, table)
        for split_name in data
        for index, row in enumerate(data[split_name])
    ]
    if not pairs:
        raise DataError(f"{config.source}: no rows to import")
    present = {pair.name for pair in pairs}
    dataset = DatasetDir(config.out)
    write_jsonl(dataset.personas_path, [p for p in table.values() if p.name in present])
    write_jsonl(dataset.pairs_path, pairs)
    write_manifest(
        dataset.manifest_path,
        "sampling.generation.hub_import",
        asdict(config),
        status="finished",
        counts={"people": len(present), "pairs": len(pairs)},
    )
    return dataset


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("hub-import", [HubImportConfig], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (config,) = parse_config(parser or make_parser(), args)
    dataset = import_dataset(config)
    print(f"imported {config.source} into {dataset.root}")


if __name__ == "__main__":
    main()
