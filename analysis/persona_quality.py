"""How close inferred personas are to the gold ones (docs/design.md §12): ROUGE-L and MiniLM cosine to the gold
text and, in
the synthetic world, precision and recall of the (axis, category) facts the inferred text states.

Usage: `python -m analysis.persona_quality --data data/synthetic_demo --methods persona_xy_1s persona_xy_4s
[--out FILE]`, after `famous-persona prefixes` built those methods. Per-person rows go to a CSV (default
<data>/persona_quality.csv); the means per method are printed, then how well each text measure ranks the rows like
attribute recall does (synthetic world).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from trl import TrlParser

from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.embeddings import embed
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import DatasetDir, write_csv
from famous_persona.personas import split_people
from famous_persona.schema import Persona
from famous_persona.text_overlap import rouge_l
from famous_persona.world_vocab import CATEGORIES, is_synthetic

COLUMNS = ["method", "name", "rouge_l", "embedding_cosine", "attribute_precision", "attribute_recall"]
GOLD_METHOD = "persona_gold"


@dataclass
class PersonaQualityConfig:
    data: str = field(default="data/synthetic_demo", metadata={"help": "Dataset directory."})
    methods: list[str] = field(
        default_factory=lambda: ["persona_xy_1s", "persona_xy_2s", "persona_xy_4s", "persona_xy_8s"],
        metadata={"help": "Persona prefix methods to compare with the gold persona."},
    )
    out: str | None = field(default=None, metadata={"help": "CSV of per-person rows; <data>/persona_quality.csv."})
    fold: int | None = field(default=None, metadata={"help": "Also split the means by seen/unseen of this fold."})
    fold_scheme: str = field(default="fold", metadata={"help": "fold | axis | person (see training)."})
    reference: str = field(
        default=GOLD_METHOD,
        metadata={"help": "What the personas are compared with: persona_gold (the written descriptions where every "
                  "person has one), or any prefix method built for the data, e.g. persona_gold_gpt4 on real data."},
    )  # fmt: skip


def stated_facts(text: str) -> set[tuple[str, str]]:
    """The (axis, category) facts a persona text states, found by each category's exact persona phrase."""
    return {(axis, key) for axis, categories in CATEGORIES.items() for key, c in categories.items() if c.phrase in text}


def attribute_scores(text: str, axes: Mapping[str, str]) -> tuple[float, float]:
    """Precision (NaN when nothing is stated) and recall of the stated facts against the person's true axes."""
    stated, truth = stated_facts(text), set(axes.items())
    correct = len(stated & truth)
    precision = correct / len(stated) if stated else math.nan
    recall = correct / len(truth) if truth else math.nan
    return precision, recall


def gold_texts(dataset: DatasetDir, people: Sequence[Persona], reference: str = GOLD_METHOD) -> dict[str, str]:
    """Each person's reference persona: for persona_gold the written description where everyone has one, else the
    per-person rows of prefixes/<reference> (real data has no ground truth, so a strong model's text stands in)."""
    if reference == GOLD_METHOD and all(person.description for person in people):
        return {person.name: person.description for person in people}  # type: ignore[misc]
    path = dataset.prefix_path(reference)
    if path.is_file():
        gold = {r.name: r.text for r in dataset.prefixes(reference) if r.pair_id is None}
        missing = [person.name for person in people if person.name not in gold]
        if not missing:
            return gold
        raise DataError(f"{path}: no reference persona for {', '.join(missing[:3])}")
    raise DataError(
        f"{dataset.root}: persona quality needs a reference persona per person, but {path} does not exist"
        + (" and personas.jsonl has no descriptions" if reference == GOLD_METHOD else "")
        + f"; build it with `famous-persona prefixes --data {dataset.root} --methods {reference}` or pass --reference"
    )


def _cosines(pairs: Sequence[tuple[str, str]]) -> list[float]:
    """Cosine of each (inferred, gold) pair; texts are embedded once each as unit vectors."""
    vectors = embed([text for pair in pairs for text in pair])
    return [float(np.dot(vectors[a], vectors[b])) for a, b in pairs]


def quality_rows(dataset: DatasetDir, methods: Sequence[str], reference: str = GOLD_METHOD) -> pd.DataFrame:
    """One row per method and person, from prefix files an earlier `famous-persona prefixes` run built."""
    people = dataset.personas()
    gold = gold_texts(dataset, people, reference)
    synthetic = is_synthetic(dataset.pairs())
    missing = [method for method in methods if not dataset.prefix_path(method).is_file()]
    if missing:
        raise DataError(
            f"{dataset.root / 'prefixes'}: no prefix file for {', '.join(missing)}; build them first with "
            f"`famous-persona prefixes --data {dataset.root} --methods {' '.join(missing)}`"
        )
    axes = {person.name: person.axes for person in people}
    rows, texts = [], []
    for method in methods:
        for record in dataset.prefixes(method):
            if record.pair_id is not None:
                continue
            precision, recall = attribute_scores(record.text, axes[record.name]) if synthetic else (math.nan, math.nan)
            rows.append([method, record.name, rouge_l(record.text, gold[record.name]), math.nan, precision, recall])
            texts.append((record.text, gold[record.name]))
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["embedding_cosine"] = _cosines(texts)
    return frame


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean of every score per method (and per seen/unseen when the frame has it), methods in the order asked for."""
    keys = ["method", "seen"] if "seen" in frame else ["method"]
    groups = frame.groupby(keys, sort=False)
    return groups[COLUMNS[2:]].mean().assign(people=groups.size())


def agreement(frame: pd.DataFrame) -> pd.Series:
    """Spearman correlation of each text measure with attribute recall over every (method, person) row: how far
    ROUGE-L and embedding similarity rank personas the way the ground truth does (synthetic world only)."""
    rows = frame.dropna(subset=["attribute_recall"])
    return pd.Series(
        {
            measure: rows[measure].corr(rows["attribute_recall"], method="spearman")
            for measure in ("rouge_l", "embedding_cosine")
        },
        name="spearman_with_attribute_recall",
    )


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("persona-quality", [PersonaQualityConfig], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (config,) = parse_config(parser or make_parser(), args)
    dataset = DatasetDir(config.data)
    frame = quality_rows(dataset, config.methods, config.reference)
    if config.fold is not None:
        seen, _ = split_people(dataset.personas(), config.fold, config.fold_scheme)
        frame["seen"] = frame["name"].isin(seen).map({True: "seen", False: "unseen"})
    out = Path(config.out) if config.out else dataset.root / "persona_quality.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(out, frame)
    print(f"wrote {len(frame)} rows to {out}")
    print(summary(frame).round(3).to_string())
    if frame["attribute_recall"].notna().any():
        rho = agreement(frame)
        print(
            f"agreement with attribute recall over {len(frame)} rows (Spearman): "
            f"ROUGE-L {rho['rouge_l']:.3f}, embedding cosine {rho['embedding_cosine']:.3f}"
        )


if __name__ == "__main__":
    main()
