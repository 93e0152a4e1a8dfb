"""How much a table moves between runs of one plan that differ only in their seed (or machine): per row and question
type, the mean over runs with the lowest and highest run, beside each run's own number.

Usage: `python -m analysis.spread dump/demo dump/demo_seed1 dump/demo_seed2 [--out FILE]`, each folder an
experiment whose `table.csv` was written by analysis.aggregate. A row that one folder has and another lacks, or
whose people or pairs differ, is refused: those tables were not made from the same plan and data. The training seeds
and commits read from each folder's run manifests are printed, so a spread over identical runs shows as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from trl import TrlParser

from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import read_json, write_csv

MEASURES = ["Personal", "Divergent", "Total"]
"""The question types of a main table; their `_low`/`_high` interval columns are left out of the spread."""


@dataclass
class SpreadArguments:
    experiment_dirs: list[str] = field(
        default_factory=list, metadata={"help": "Experiment folders of one plan, each with its table.csv."}
    )
    out: str | None = field(default=None, metadata={"help": "CSV of the spread (default: spread.csv in the first)."})


def read_table(folder: Path) -> pd.DataFrame:
    path = folder / "table.csv"
    if not path.is_file():
        raise DataError(f"{path}: no table (run the plan, or analysis.aggregate, for {folder} first)")
    return pd.read_csv(path)


def keys(table: pd.DataFrame) -> list[str]:
    """What names a row: every column but the measures and their intervals (people, folds and pairs included)."""
    return [c for c in table.columns if c.split("_")[0] not in MEASURES]


def provenance(folder: Path) -> dict[str, str]:
    """The training seeds and commits recorded by the folder's trained runs, each list sorted and joined."""
    seeds, commits = set(), set()
    for path in folder.glob("**/manifest.json"):
        manifest = read_json(path)
        configs = manifest.get("config") or {}
        trained = [c["seed"] for name, c in configs.items() if name.endswith("Config") and "seed" in c]
        if trained:
            seeds.update(str(seed) for seed in trained)
            commits.add(str(manifest.get("git_commit") or "unknown")[:7])
    return {"seeds": ",".join(sorted(seeds)) or "none", "commits": ",".join(sorted(commits)) or "none"}


def spread(folders: list[Path]) -> pd.DataFrame:
    """One row per table row and measure: the mean, lowest and highest over the folders, then each folder's value."""
    if len(folders) < 2:
        raise DataError("command line: --experiment_dirs: a spread needs at least two experiment folders")
    tables = [read_table(folder) for folder in folders]
    names = keys(tables[0])
    for folder, table in zip(folders[1:], tables[1:], strict=True):
        if keys(table) != names:
            raise DataError(f"{folder / 'table.csv'}: columns {keys(table)} differ from {folders[0] / 'table.csv'}")
    wide = tables[0][names]
    for index, table in enumerate(tables):
        measures = [m for m in MEASURES if m in table.columns]
        part = table[names + measures].rename(columns={m: f"{m}@{index}" for m in measures})
        merged = wide.merge(part, on=names, how="outer", indicator=True)
        unmatched = merged[merged["_merge"] != "both"]
        if len(unmatched):
            row = unmatched.iloc[0][names].to_dict()
            raise DataError(f"{folders[index] / 'table.csv'}: row {row} is not in every table (or its people or "
                            f"pairs differ): the folders are not runs of one plan on one dataset")  # fmt: skip
        wide = merged.drop(columns="_merge")
    rows = []
    for _, row in wide.iterrows():
        for measure in MEASURES:
            values = [row.get(f"{measure}@{i}") for i in range(len(folders))]
            if any(value is None or pd.isna(value) for value in values):
                continue
            series = pd.Series(values, dtype=float)
            cells = {"measure": measure, "mean": series.mean(), "low": series.min(), "high": series.max()}
            rows.append({**row[names].to_dict(), **cells, **{str(f): v for f, v in zip(folders, values, strict=True)}})
    return pd.DataFrame(rows)


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("spread", [SpreadArguments], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (config,) = parse_config(parser or make_parser(), args)
    folders = [Path(folder) for folder in config.experiment_dirs]
    table = spread(folders)
    out = Path(config.out) if config.out else folders[0] / "spread.csv"
    write_csv(out, table)
    for folder in folders:
        origin = provenance(folder)
        print(f"{folder}: training seeds {origin['seeds']}, commits {origin['commits']}")
    shown = table[table["measure"] == "Total"].drop(columns="measure")
    print("Total accuracy: mean over the runs [lowest, highest], then each run")
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
