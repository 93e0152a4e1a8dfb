"""A dataset laid out like the FamousPersona release, for tests of `sampling.generation.hub_import`.

The people are the 50 real ones of the committed table (names, folds, axes and categories); the preference pairs are
fictional, written here from a few sentence frames, a handful per person, so the whole set is made and imported in
seconds. The layout follows the original's files: `train_<stem>.json` and `test_<stem>.json` (JSON lines: `name`,
`prompt`, `yw`, `yl`, `question_type` personal|common, `axis` for common questions, and the candidate list
`diverse_ys`, which the import ignores) and the people file `personas.json` (`name`, `axis` as "axis: category"
strings, `cv`, `tag` and per-person prefix columns such as `persona_gold_gpt4`; no written description).
Usage: `python -m tests.support.hub_shaped OUT_DIR [--pairs_per_person N] [--people_per_fold K] [--tests_per_person T]
[--seed S]`."""

from __future__ import annotations

import argparse
import itertools
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from famous_persona.io import read_jsonl, write_jsonl
from famous_persona.schema import Persona
from famous_persona.seeding import seeded

TABLE = Path(__file__).resolve().parents[2] / "data" / "famous_persona" / "personas.jsonl"
STEM = "50p_200d_total_50r_tem2.0_top0.8_cot_filtered20m4k_yl-random_cot_annotated"
PAIR_FILES = {"train": f"train_{STEM}.json", "test": f"test_{STEM}.json"}
PEOPLE_FILE = "personas.json"
TASKS = (
    "a weekly schedule", "a packing list", "a short toast", "a reading plan", "a grocery list", "a thank-you note",
    "a training plan", "a travel budget", "a meeting agenda", "a birthday menu", "a garden plan", "a study guide",
)  # fmt: skip
OCCASIONS = ("for a busy month", "for a quiet weekend", "for a trip abroad", "for a family visit",
             "for a big launch", "for the holidays")  # fmt: skip
QUESTIONS = (
    ("What should I cook for friends this weekend?", "pick one dish you can prepare ahead and serve it warm."),
    ("Which book would you hand a curious teenager?", "choose a short one they can finish in a week."),
    ("How should I spend a free afternoon?", "block two hours for it and leave your phone in a drawer."),
    ("How would you mark a family milestone?", "keep the gathering small and let everyone say a few words."),
    ("Where should I go for a short break?", "stay within a half-day of travel so the rest outweighs the trip."),
    ("Which hobby would you take up this year?", "try it for a month before buying any gear."),
    ("How should I plan my mornings?", "put the hardest task first, before any messages."),
    ("What should I look for in a new neighbourhood?", "walk it on a weekday evening and on a Sunday morning."),
)
MIN_PER_PERSON, MAX_PER_PERSON = 4, 2 * len(QUESTIONS)
"""Four give everyone a test pair; a person with one axis has at most len(QUESTIONS) common questions, and gets as
many personal ones."""


def release_axis(axis: str) -> str:
    """The original's spelling of an axis: `family/marriage status` is `family marriage status` there."""
    return axis.replace("/", " ")


def personal_rows(person: Persona, count: int, seed: int) -> list[dict[str, Any]]:
    """Questions only this person would ask: the preferred answer is shaped by their first category."""
    focus = next(iter(person.axes.values()))
    combos = seeded(seed, "personal", person.name).sample(range(len(TASKS) * len(OCCASIONS)), count)
    rows = []
    for i, combo in enumerate(combos):
        task, occasion = TASKS[combo // len(OCCASIONS)], OCCASIONS[combo % len(OCCASIONS)]
        rows.append({
            "split": "train" if i % 2 == 0 else "test",
            "name": person.name,
            "prompt": f"Could you draft {task} {occasion} for me?",
            "yw": f"Here is {task} {occasion}, built around {focus}: three clear steps and nothing extra.",
            "yl": f"Here is {task} {occasion} in general terms, long and with no personal angle.",
            "question_type": "personal",
            "axis": None,
        })  # fmt: skip
    return rows


def other_category(axis: str, own: str, people: Sequence[Persona], seed: int, name: str) -> str:
    """Another person's category on the axis: the answer this person would not prefer."""
    others = sorted({p.axes[axis] for p in people if axis in p.axes} - {own})
    return seeded(seed, "rejected", name, axis).choice(others) if others else "no particular view"


def common_rows(person: Persona, count: int, people: Sequence[Persona], seed: int) -> list[dict[str, Any]]:
    """Questions asked of everyone on an axis; the same question is in the same split for all of them, and the
    preferred answer follows the person's category, the other answer another person's."""
    axes = list(person.axes)
    rows = []
    for k in range(count):
        axis, j = axes[k % len(axes)], k // len(axes)
        question, advice = QUESTIONS[j]
        own, other = person.axes[axis], other_category(axis, person.axes[axis], people, seed, person.name)
        rows.append({
            "split": "train" if j % 2 == 0 else "test",
            "name": person.name,
            "prompt": f"{question} Please keep my view on {release_axis(axis)} in mind.",
            "yw": f"Going by {own}: {advice}",
            "yl": f"Going by {other}: {advice}",
            "question_type": "common",
            "axis": release_axis(axis),
        })  # fmt: skip
    return rows


def with_candidates(row: dict[str, Any], seed: int, index: int) -> dict[str, Any]:
    """The release row: split taken out (the file says it), the answer candidates listed in a seeded order."""
    candidates = [row["yw"], row["yl"]]
    seeded(seed, "candidates", row["name"], index).shuffle(candidates)
    return {key: value for key, value in row.items() if key != "split"} | {"diverse_ys": candidates}


def pair_rows(
    people: Sequence[Persona], pairs_per_person: int, seed: int, tests_per_person: int | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Each split's rows: per person, half personal and half common questions; with `tests_per_person`, only that
    many of a person's test pairs, personal and common in turn, so a run scores less without training on less."""
    if not MIN_PER_PERSON <= pairs_per_person <= MAX_PER_PERSON:
        raise ValueError(f"pairs_per_person must be {MIN_PER_PERSON} to {MAX_PER_PERSON}, got {pairs_per_person}")
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "test": []}
    for person in people:
        personal = pairs_per_person // 2
        rows = personal_rows(person, personal, seed) + common_rows(person, pairs_per_person - personal, people, seed)
        tests = interleaved([row for row in rows if row["split"] == "test"])[:tests_per_person]
        for index, row in enumerate(rows):
            if row["split"] == "train" or row in tests:
                splits[row["split"]].append(with_candidates(row, seed, index))
    return splits


def interleaved(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Personal and common rows in turn, each kind in its own order."""
    kinds = [[row for row in rows if row["question_type"] == kind] for kind in ("personal", "common")]
    return [row for pair in itertools.zip_longest(*kinds) for row in pair if row is not None]


def gold_persona(person: Persona, seed: int) -> str:
    """A persona from the person's name and table entry alone, two short paragraphs; another seed rewords it."""
    job = person.demographics.get("profession") or "a public figure"
    views = " ".join(
        f"On {release_axis(axis)}, they lean towards {category}." for axis, category in person.axes.items()
    )
    if seed:
        return f"The person asking is {person.name}. {views}\n\nKeep answers short, practical and in line with that."
    return (
        f"This user is {person.name}, {job}. {views}\n\nThey want answers that take this as given and get to the point."
    )


def inferred_persona(person: Persona) -> str:
    """What a model might infer from four of the person's questions, without their name."""
    focus = next(iter(person.axes.values()))
    return f"This user's questions keep coming back to {focus}.\n\nThey like brief, direct answers."


COLUMNS: dict[str, Callable[[Persona], str]] = {
    "persona_gold_gpt4": lambda person: gold_persona(person, 0),
    "persona_gold_gpt4_seed1": lambda person: gold_persona(person, 1),
    "persona_xy_4s_gpt4": inferred_persona,
}
"""The people file's prefix columns: two gold personas (imported) and one inferred from shots (skipped)."""


def people_row(person: Persona) -> dict[str, Any]:
    """The release's people row: axes as "axis: category" strings, the fold as `cv`, then the prefix columns."""
    axes = [f"{release_axis(axis)}: {category}" for axis, category in person.axes.items()]
    row: dict[str, Any] = {"name": person.name, "axis": axes, "cv": person.fold, "tag": person.tag}
    return row | {column: text(person) for column, text in COLUMNS.items()}


def first_of_each_fold(people: Sequence[Persona], per_fold: int | None) -> list[Persona]:
    """The first `per_fold` people of every fold (all of them when None): a smaller release with every fold in it,
    for runs that must stay short."""
    if per_fold is None:
        return list(people)
    seen: Counter[int] = Counter()
    kept = []
    for person in people:
        seen[person.fold] += 1
        if seen[person.fold] <= per_fold:
            kept.append(person)
    return kept


def make(
    out: Path | str,
    pairs_per_person: int = 12,
    seed: int = 0,
    people_per_fold: int | None = None,
    tests_per_person: int | None = None,
) -> Path:
    """Write the release-shaped files under `out` and return it."""
    out = Path(out)
    people = first_of_each_fold(read_jsonl(TABLE, Persona, unique="name"), people_per_fold)
    for split, rows in pair_rows(people, pairs_per_person, seed, tests_per_person).items():
        write_jsonl(out / PAIR_FILES[split], rows)
    write_jsonl(out / PEOPLE_FILE, [people_row(person) for person in people])
    return out


def main(args: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="Folder to write the release-shaped files to.")
    parser.add_argument(
        "--pairs_per_person", type=int, default=12, help=f"{MIN_PER_PERSON} to {MAX_PER_PERSON} (default 12)."
    )
    parser.add_argument("--people_per_fold", type=int, default=None, help="Keep this many people a fold (default all).")
    parser.add_argument(
        "--tests_per_person", type=int, default=None, help="Keep this many test pairs a person (default all)."
    )
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args(args)
    try:
        out = make(
            options.out, options.pairs_per_person, options.seed, options.people_per_fold, options.tests_per_person
        )
    except ValueError as error:
        parser.error(str(error))
    print(f"wrote a release-shaped dataset to {out}")


if __name__ == "__main__":
    main()
