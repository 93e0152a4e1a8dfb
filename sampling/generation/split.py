"""Stage 7, the split: per person up to `personal_target` personal and `divergent_target` divergent pairs, half
train and half test within each type; a divergent question is in the same split for everyone on its axis. Writes
pairs.jsonl (validated records) and the dataset manifest. Usage: `python -m sampling.generation.split
--config <yaml>`."""

from __future__ import annotations

import random
from collections import defaultdict

from famous_persona.io import DatasetDir, write_jsonl
from famous_persona.personas import name_key
from famous_persona.schema import Pair
from sampling.generation.config import GenerateConfig
from sampling.generation.runtime import Context, stage_command


def divergent_splits(rows: list[dict], seed: int) -> dict[str, str]:
    """qid → split, half of each axis's questions each way, the same for everyone on the axis."""
    by_axis: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if row["axis"] is not None and row["qid"] not in by_axis[row["axis"]]:
            by_axis[row["axis"]].append(row["qid"])
    split = {}
    for axis, qids in by_axis.items():
        qids = sorted(qids)
        random.Random(f"{seed}-split-{axis}").shuffle(qids)
        half = (len(qids) + 1) // 2
        split.update({qid: "train" if i < half else "test" for i, qid in enumerate(qids)})
    return split


def _take(rows: list[dict], per_split: int, rng: random.Random) -> list[dict]:
    rows = sorted(rows, key=lambda r: r["qid"])
    rng.shuffle(rows)
    return rows[:per_split]


def person_pairs(rows: list[dict], config: GenerateConfig, div_split: dict[str, str]) -> list[dict]:
    """One person's selected rows, each with its split."""
    rng = random.Random(f"{config.seed}-take-{rows[0]['name']}")
    personal = sorted((r for r in rows if r["axis"] is None), key=lambda r: r["qid"])
    rng.shuffle(personal)
    personal = personal[: config.personal_target]
    half = (len(personal) + 1) // 2
    chosen = [{**r, "split": "train" if i < half else "test"} for i, r in enumerate(personal)]
    for split in ("train", "test"):
        pool = [r for r in rows if r["axis"] is not None and div_split[r["qid"]] == split]
        chosen += [{**r, "split": split} for r in _take(pool, config.divergent_target // 2, rng)]
    return chosen


def to_pair(row: dict) -> Pair:
    qid = row["qid"].replace(":", "-")
    return Pair(
        id=f"{name_key(row['name'])}-{qid}",
        name=row["name"],
        prompt=row["prompt"],
        chosen=row["chosen"],
        rejected=row["rejected"],
        question_type=row["question_type"],
        axis=row["axis"],
        split=row["split"],
        meta=row["meta"],
    )


def run(ctx: Context) -> None:
    rows = ctx.read("judged")
    div_split = divergent_splits(rows, ctx.config.seed)
    by_person: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_person[row["name"]].append(row)
    pairs = [
        to_pair(r)
        for person in ctx.people()
        if by_person[person.name]
        for r in person_pairs(by_person[person.name], ctx.config, div_split)
    ]
    write_jsonl(DatasetDir(ctx.out).pairs_path, pairs)
    table = [_counts(person.name, [p for p in pairs if p.name == person.name]) for person in ctx.people()]
    missing = {row["name"]: "no judged pairs" for row in table if not row["pairs"]}
    short = {row["name"]: gaps for row in table if (gaps := _below_target(row, ctx.config))}
    for name, gaps in short.items():
        print(f"split: {name} is below the target: {gaps}")
    ctx.finish("split", table, missing, pairs=len(pairs), short=short, missing=sorted(missing))


def _below_target(row: dict, config: GenerateConfig) -> str:
    """Which of a person's four kinds of pairs fall short of the target, as 'kind have/want'."""
    want = {
        "personal_train": (config.personal_target + 1) // 2,
        "personal_test": config.personal_target // 2,
        "divergent_train": config.divergent_target // 2,
        "divergent_test": config.divergent_target // 2,
    }
    return ", ".join(f"{kind} {row[kind]}/{n}" for kind, n in want.items() if row[kind] < n)


def _counts(name: str, pairs: list[Pair]) -> dict:
    """One person's pairs by type and split: the split stage's report row."""
    counts = {f"{kind}_{split}": 0 for kind in ("personal", "divergent") for split in ("train", "test")}
    for pair in pairs:
        counts[f"{pair.question_type}_{pair.split}"] += 1
    return {"name": name, "pairs": len(pairs), **counts}


make_parser, main = stage_command("split", run, __doc__)


if __name__ == "__main__":
    main()
