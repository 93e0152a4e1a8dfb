"""Import `zilu-peter-tang/famous-persona` (or a local copy laid out like it) into a dataset directory
(docs/design.md §4).

The release is laid out as the original's files are: a `train_*` and a `test_*` file of preference pairs (JSON lines;
the file name gives the split, as `datasets` reads it) and a people file, `personas.json`. The field map's defaults
follow them: `name`, `prompt`, `yw`/`yl` or `chosen`/`rejected` (strings or message lists), `question_type`
(`personal`; `common` or `divergent` → divergent), `axis` (spelled as the person's own axis in the people table;
`family marriage status` is `family/marriage status`), `split` (else the file's split). Other columns are ignored.
The people come from the committed people table. A persona column of the people file, such as `persona_gold_gpt4`,
becomes the prefix method `persona_gold_gpt4-released`, one prefix per person (docs/data.md). With HF_HUB_OFFLINE set,
a hub id fails at once with a message.
Usage: `python -m sampling.generation.hub_import --source zilu-peter-tang/famous-persona --out
data/famous_persona_hub`."""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trl import TrlParser

from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.families import family
from famous_persona.io import DatasetDir, RecordError, read_json, read_jsonl, write_jsonl
from famous_persona.manifest import record_step, write_manifest
from famous_persona.methods import parse_method, released_name
from famous_persona.schema import Pair, Persona, Prefix

HUB_ID = "zilu-peter-tang/famous-persona"
TYPES = {"personal": "personal", "common": "divergent", "divergent": "divergent"}
Where = tuple[str, int]
"""(file as the user named it, line) of a row, for errors."""


@dataclass
class HubImportConfig:
    source: str = field(default=HUB_ID, metadata={"help": "Hub dataset id or a local directory laid out like it."})
    out: str = field(default="data/famous_persona_hub", metadata={"help": "Dataset directory to write."})
    people_table: str = field(default="data/famous_persona/personas.jsonl", metadata={"help": "The people."})
    people_file: str = field(
        default="personas.json",
        metadata={"help": "The release's people file, inside --source: its persona columns become prefix methods."},
    )
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


def local_copy(config: HubImportConfig) -> Path:
    """The source as a folder: itself, or a snapshot of the hub id when online; offline, a clear error at once."""
    if Path(config.source).exists():
        return Path(config.source).resolve()
    if offline():
        raise DataError(
            f"'{config.source}' is not a local directory and HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set, so the hub "
            f"is not contacted. Get the data on a machine with access (`hf download {HUB_ID} --repo-type dataset "
            f"--local-dir data/hub/famous-persona`), then pass --source data/hub/famous-persona"
        )
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(config.source, repo_type="dataset", revision=config.revision))


def split_files(root: Path, people_file: str) -> dict[str, list[Path]]:
    """The pair files of each split, found as `datasets` finds them (file names, or the dataset card's configs); the
    people file is none of them, even where no file name says a split and `datasets` takes every file as train."""
    import datasets

    found = datasets.load_dataset_builder(str(root)).config.data_files or {}
    people = root / people_file
    return {str(split): [Path(f) for f in files if Path(f) != people] for split, files in found.items()}


def file_rows(root: Path, path: Path, shown: str) -> list[dict[str, Any]]:
    """The rows of one data file (`shown` as the user named it), in file order, read by `datasets` (JSON lines, JSON,
    Parquet or CSV); quietly, so an error stays one line."""
    import datasets
    from datasets.exceptions import DatasetGenerationError

    datasets.disable_progress_bars()
    datasets.utils.logging.set_verbosity(logging.CRITICAL)
    try:
        return datasets.load_dataset(str(root), data_files=str(path.relative_to(root)), split="train").to_list()
    except DatasetGenerationError as error:
        cause = " ".join(str(error.__cause__ or error).split())
        raise DataError(f"{shown}: cannot be read as a table of rows ({cause})") from None


def text_of(value: Any, role: str) -> str | None:
    """A plain string, or the content of the last `role` message of a message list."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
        own = [m for m in value if m.get("role") == role] or value
        content = own[-1].get("content")
        return content if isinstance(content, str) else None
    return None


def _field(row: dict, names: list[str], where: Where, role: str) -> str:
    for name in names:
        if name in row and row[name] is not None:
            value = text_of(row[name], role)
            if value is None:
                raise RecordError(*where, name, "expected a string or a list of chat messages")
            return value
    raise RecordError(*where, "/".join(names), f"missing (columns: {sorted(row)})")


def _plain(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def own_axis(given: Any, person: Persona, where: Where, config: HubImportConfig) -> str:
    """A divergent row's axis as the people table spells it; a row without one takes the person's only axis."""
    if given is not None and not isinstance(given, str):
        raise RecordError(*where, config.axis_field, f"expected a string, got {type(given).__name__}")
    if given:
        return {_plain(axis): axis for axis in person.axes}.get(_plain(given), given)
    if len(person.axes) == 1:
        return next(iter(person.axes))
    raise RecordError(
        *where, config.axis_field, f"a divergent row needs an axis ({person.name} has {list(person.axes)})"
    )


def person_of(row: dict, where: Where, config: HubImportConfig, people: dict[str, Persona]) -> Persona:
    name = _field(row, [config.name_field], where, "user")
    if name not in people:
        raise RecordError(*where, config.name_field, f"{name!r} is not in {config.people_table}")
    return people[name]


def to_pair(row: dict, where: Where, index: int, split_name: str, config: HubImportConfig, people: dict) -> Pair:
    """One release row as a pair; its id is the person's key, the file's split and the row's place in that split."""
    person = person_of(row, where, config, people)
    raw_type = _field(row, [config.type_field], where, "user")
    if raw_type not in TYPES:
        raise RecordError(
            *where, config.type_field, f"unknown question type {raw_type!r}; expected one of {list(TYPES)}"
        )
    kind = TYPES[raw_type]
    split = row.get(config.split_field) or split_name
    if split not in ("train", "test"):
        raise RecordError(*where, config.split_field, f"split must be train or test, got {split!r}")
    return Pair(
        id=f"{person.key}-{split_name}-{index:05d}",
        name=person.name,
        prompt=_field(row, [config.prompt_field], where, "user"),
        chosen=_field(row, config.chosen_fields, where, "assistant"),
        rejected=_field(row, config.rejected_fields, where, "assistant"),
        question_type=kind,
        axis=own_axis(row.get(config.axis_field), person, where, config) if kind == "divergent" else None,
        split=split,
        meta={"source": config.source, "source_file": where[0], "source_row": where[1]},
    )


def read_pairs(root: Path, config: HubImportConfig, people: dict[str, Persona]) -> list[Pair]:
    """Every pair of every split's files, in file order."""
    pairs: list[Pair] = []
    for split_name, paths in split_files(root, config.people_file).items():
        located: list[tuple[Where, dict]] = []
        for path in paths:
            shown = str(Path(config.source) / path.relative_to(root))
            located += [((shown, line), row) for line, row in enumerate(file_rows(root, path, shown), start=1)]
        pairs += [to_pair(row, where, index, split_name, config, people) for index, (where, row) in enumerate(located)]
    if not pairs:
        raise DataError(f"{config.source}: no train or test file of pairs to import")
    return pairs


def prefix_column(column: str) -> bool:
    """A people-file column that names a persona or shot-based prefix method (`name` and `tag` are people fields)."""
    try:
        method = parse_method(column)
    except DataError:
        return False
    return method.persona or family(method.family).shots


def column_texts(rows: list[tuple[str, dict]], shown: str, column: str) -> dict[str, str | None]:
    """Each person's text in one column; a value that is no string is an error on its line."""
    texts = {}
    for line, (name, row) in enumerate(rows, start=1):
        value = row.get(column)
        if value is not None and not isinstance(value, str):
            raise RecordError(shown, line, column, f"expected a prefix text, got {type(value).__name__}")
        texts[name] = value if value and value.strip() else None
    return texts


def released_prefixes(
    rows: list[tuple[str, dict]], shown: str, present: list[Persona]
) -> tuple[dict[str, list[Prefix]], dict[str, dict]]:
    """(method → one prefix per person) for each persona column of the people file, and what became of every
    prefix column: its method, or why it was skipped."""
    prefixes, report = {}, {}
    for column in dict.fromkeys(key for _, row in rows for key in row):
        if not prefix_column(column):
            continue
        try:
            method = released_name(column)
        except DataError as error:
            report[column] = {"skipped": str(error).removeprefix(f"{column}: ")}
            continue
        texts = column_texts(rows, shown, column)
        missing = [p.name for p in present if texts.get(p.name) is None]
        if missing:
            report[column] = {"skipped": f"no text for {len(missing)} of {len(present)} people (first: {missing[0]})"}
            continue
        seed = parse_method(method).seed
        model = f"{shown}#{column}"
        prefixes[method] = [
            Prefix(name=p.name, method=method, text=texts[p.name], model=model, seed=seed) for p in present
        ]
        report[column] = {"method": method}
    return prefixes, report


def people_rows(root: Path, config: HubImportConfig, people: dict[str, Persona]) -> tuple[str, list[tuple[str, dict]]]:
    """(the people file as named, its rows by person) of the release; none when it has no people file."""
    shown = str(Path(config.source) / config.people_file)
    if not (root / config.people_file).is_file():
        return shown, []
    rows: list[tuple[str, dict]] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(file_rows(root, root / config.people_file, shown), start=1):
        name = person_of(row, (shown, line), config, people).name
        if name in seen:
            raise RecordError(shown, line, config.name_field, f"duplicate {name!r} (first on line {seen[name]})")
        seen[name] = line
        rows.append((name, row))
    return shown, rows


def import_dataset(config: HubImportConfig) -> DatasetDir:
    table = {p.name: p for p in read_jsonl(config.people_table, Persona, unique="name")}
    root = local_copy(config)
    pairs = read_pairs(root, config, table)
    names = {pair.name for pair in pairs}
    present = [person for person in table.values() if person.name in names]
    shown, rows = people_rows(root, config, table)
    prefixes, report = released_prefixes(rows, shown, present)
    dataset = DatasetDir(config.out)
    write_jsonl(dataset.personas_path, [p.model_dump(mode="json", exclude={"description"}) for p in present])
    write_jsonl(dataset.pairs_path, pairs)
    counts = {"people": len(present), "pairs": len(pairs)}
    counts |= {split: sum(pair.split == split for pair in pairs) for split in ("train", "test")}
    write_manifest(
        dataset.manifest_path,
        "sampling.generation.hub_import",
        asdict(config),
        status="finished",
        counts=counts,
        prefix_columns=report,
    )
    for method, records in prefixes.items():
        write_jsonl(dataset.prefix_path(method), records)
        record_step(dataset.manifest_path, "prefixes", method, records=len(records), models=[records[0].model])
    return dataset


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("hub-import", [HubImportConfig], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (config,) = parse_config(parser or make_parser(), args)
    dataset = import_dataset(config)
    manifest = read_json(dataset.manifest_path)
    print(f"imported {config.source} into {dataset.root}: {manifest['counts']}")
    for column, outcome in manifest["prefix_columns"].items():
        print(f"  people-file column {column}: " + (outcome.get("method") or f"skipped, {outcome['skipped']}"))


if __name__ == "__main__":
    main()
