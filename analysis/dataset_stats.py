"""What a dataset holds (docs/design.md §12): counts, answer and prefix lengths, train/test leakage, axis disagreement.

Usage: `python -m analysis.dataset_stats --data data/synthetic_demo [--out dump/demo/analysis]`; each table is
printed and, with --out, saved as dataset_<table>.csv.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import pandas as pd
from trl import TrlParser

from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import exit_on_data_error
from famous_persona.io import DatasetDir, write_csv


@dataclass
class DatasetStatsArguments:
    data: str = field(default="data/synthetic_demo", metadata={"help": "Dataset directory."})
    out: str | None = field(default=None, metadata={"help": "Folder for dataset_*.csv; print only when unset."})


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def _n_words(text: str) -> int:
    return len(text.split())


def pair_frame(dataset: DatasetDir) -> pd.DataFrame:
    """pairs.jsonl as a table with word counts of both answers."""
    frame = pd.DataFrame([pair.model_dump(exclude={"meta"}) for pair in dataset.pairs()])
    frame["chosen_words"] = frame["chosen"].map(_n_words)
    frame["rejected_words"] = frame["rejected"].map(_n_words)
    return frame


def counts(pairs: pd.DataFrame) -> pd.DataFrame:
    """Pairs per person, question type and split."""
    table = pairs.pivot_table(index="name", columns=["question_type", "split"], values="id", aggfunc="count")
    table.columns = [f"{kind}/{split}" for kind, split in table.columns]
    return table.fillna(0).astype(int).reset_index()


def axis_counts(pairs: pd.DataFrame) -> pd.DataFrame:
    """Divergent pairs, people and distinct questions per axis."""
    divergent = pairs[pairs["question_type"] == "divergent"]
    return (
        divergent.groupby("axis")
        .agg(pairs=("id", "count"), people=("name", "nunique"), questions=("prompt", "nunique"))
        .reset_index()
    )


def answer_lengths(pairs: pd.DataFrame) -> pd.DataFrame:
    """Mean answer length in words and how often the chosen answer is the longer one (a length bias to watch)."""
    pairs = pairs.assign(chosen_longer=pairs["chosen_words"] > pairs["rejected_words"])
    return (
        pairs.groupby("question_type")
        .agg(
            pairs=("id", "count"),
            chosen_words=("chosen_words", "mean"),
            rejected_words=("rejected_words", "mean"),
            chosen_longer=("chosen_longer", "mean"),
        )
        .reset_index()
    )


def prefix_lengths(dataset: DatasetDir) -> pd.DataFrame:
    """Rows and words per prefix method found in prefixes/."""
    rows = []
    for path in sorted((dataset.root / "prefixes").glob("*.jsonl")):
        lengths = pd.Series([_n_words(prefix.text) for prefix in dataset.prefixes(path.stem)], dtype=float)
        rows.append(
            {
                "method": path.stem,
                "rows": len(lengths),
                "mean_words": lengths.mean(),
                "min_words": lengths.min(),
                "max_words": lengths.max(),
            }
        )
    return pd.DataFrame(rows, columns=["method", "rows", "mean_words", "min_words", "max_words"])


def leakage(pairs: pd.DataFrame, dataset: DatasetDir) -> pd.DataFrame:
    """Test questions also asked in train (same person, anyone), and test pairs used as prefix shots."""
    test, train = pairs[pairs["split"] == "test"], pairs[pairs["split"] == "train"]
    train_any = set(train["prompt"].map(_normal))
    train_own = set(zip(train["name"], train["prompt"].map(_normal), strict=True))
    anyone = int(test["prompt"].map(_normal).isin(train_any).sum())
    own = sum((n, _normal(p)) in train_own for n, p in zip(test["name"], test["prompt"], strict=True))
    test_ids = set(test["id"])
    shots = {
        path.stem: sum(bool(set(p.shots) & test_ids) for p in dataset.prefixes(path.stem))
        for path in sorted((dataset.root / "prefixes").glob("*.jsonl"))
    }
    rows = [
        {"check": "test question in the same person's train split", "count": own, "of": len(test)},
        {"check": "test question in anyone's train split", "count": anyone, "of": len(test)},
        *(
            {"check": f"prefixes/{m}.jsonl rows with a test pair among their shots", "count": c, "of": None}
            for m, c in shots.items()
        ),
    ]
    return pd.DataFrame(rows, columns=["check", "count", "of"]).astype({"of": "Int64"})


def disagreement(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per axis, over pairs of people asked the same divergent question: how often their chosen answers differ, and
    how often one prefers exactly what the other rejects."""
    rows = []
    divergent = pairs[pairs["question_type"] == "divergent"]
    for axis, part in divergent.groupby("axis"):
        compared = differ = reversed_ = 0
        for _, asked in part.groupby(part["prompt"].map(_normal)):
            for a, b in combinations(asked.itertuples(index=False), 2):
                if a.name == b.name:
                    continue
                compared += 1
                differ += _normal(a.chosen) != _normal(b.chosen)
                reversed_ += _normal(a.chosen) == _normal(b.rejected) and _normal(a.rejected) == _normal(b.chosen)
        rows.append(
            {
                "axis": axis,
                "person_pairs": compared,
                "chosen_differs": differ / compared if compared else None,
                "reversed": reversed_ / compared if compared else None,
            }
        )
    return pd.DataFrame(rows, columns=["axis", "person_pairs", "chosen_differs", "reversed"])


def dataset_stats(data: Path | str, out: Path | str | None = None) -> dict[str, pd.DataFrame]:
    """Every table, saved as dataset_<name>.csv under `out` when given."""
    dataset = DatasetDir(data)
    pairs = pair_frame(dataset)
    tables = {
        "counts": counts(pairs),
        "axes": axis_counts(pairs),
        "answer_lengths": answer_lengths(pairs),
        "prefix_lengths": prefix_lengths(dataset),
        "leakage": leakage(pairs, dataset),
        "disagreement": disagreement(pairs),
    }
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        for name, table in tables.items():
            write_csv(Path(out) / f"dataset_{name}.csv", table)
    return tables


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("dataset-stats", [DatasetStatsArguments], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (config,) = parse_config(parser or make_parser(), args)
    for name, table in dataset_stats(config.data, config.out).items():
        print(f"\n## {name}\n{table.to_string(index=False, float_format=lambda v: f'{v:.3f}')}")


if __name__ == "__main__":
    main()
