"""Rows of the persona-inference training task (`persona_task_{k}s_from_{source}[_ratio{r}]`, a training-set part).

A row shows k of one person's train pairs in the request `persona_prompts.from_pairs` makes and prefers that person's
persona from prefixes/<source>.jsonl over another person's, so a model learns to read a user from their choices.
Shots come from train pairs only, so a test pair never reaches training through this task.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from famous_persona.errors import DataError
from famous_persona.methods import PersonaTask
from famous_persona.persona_prompts import from_pairs
from famous_persona.personas import require_train_pairs
from famous_persona.schema import DpoRecord, Message, Pair, Persona, Prefix
from famous_persona.seeding import seeded
from famous_persona.wording import Wording


@dataclass(frozen=True)
class TaskRows:
    records: list[DpoRecord]
    skipped: int
    """Rows left out because the other person's persona had the same text as the person's own."""


def _rng(task: PersonaTask, *purpose: object) -> random.Random:
    """Seeded like the source's shot draws, so the same inputs give the same rows."""
    return seeded(task.source.seed, "persona_task", task.shots, *purpose)


def _own_personas(task: PersonaTask, personas: Sequence[Prefix]) -> dict[str, str]:
    """Each person's own persona text: the per-person record (pair_id null) of the source file."""
    texts = {prefix.name: prefix.text for prefix in personas if prefix.pair_id is None}
    blank = sorted(name for name, text in texts.items() if not text.strip())
    if blank:
        raise DataError(f"prefixes/{task.source.name}.jsonl: empty persona for {blank}")
    if len(texts) < 2:
        raise DataError(f"{task.name}: a rejected persona needs at least two people in prefixes/{task.source.name}")
    return texts


def _row_count(task: PersonaTask, train_pairs: int) -> int:
    """`ratio` rows per train pair of the person, rounded, at least one."""
    return max(1, round(task.ratio * train_pairs))


def _row(
    task: PersonaTask, person: Persona, index: int, pool: Sequence[Pair], texts: dict[str, str], wording: Wording | None
) -> DpoRecord | None:
    """One task row, or None when the drawn other persona reads exactly like the person's own."""
    shots = _rng(task, "shots", person.name, index).sample(list(pool), task.shots)
    others = [name for name in texts if name != person.name]
    rejected = texts[_rng(task, "rejected", person.name, index).choice(others)]
    if rejected == texts[person.name]:
        return None
    return DpoRecord(
        id=f"task-{person.key}-{index}",
        name=person.name,
        question_type="persona_task",
        axis=None,
        prompt=[Message(role="user", content=from_pairs(shots, True, wording))],
        chosen=[Message(role="assistant", content=texts[person.name])],
        rejected=[Message(role="assistant", content=rejected)],
    )


def task_records(
    task: PersonaTask,
    people: Sequence[Persona],
    pairs: Sequence[Pair],
    personas: Sequence[Prefix],
    wording: Wording | None = None,
) -> TaskRows:
    """Every person's task rows, people in file order; a person without train pairs has nothing to show and no rows.
    The request is in `wording` (None: the default)."""
    texts = _own_personas(task, personas)
    pools = {
        person.name: [pair for pair in pairs if pair.name == person.name and pair.split == "train"] for person in people
    }
    counts = {name: len(pool) for name, pool in pools.items() if pool}
    require_train_pairs(task.name, counts, task.shots, f"{task.shots} shots in every row")
    records, skipped = [], 0
    for person in people:
        pool = pools[person.name]
        if not pool:
            continue
        if person.name not in texts:
            raise DataError(f"prefixes/{task.source.name}.jsonl has no persona for {person.name!r}")
        for index in range(_row_count(task, len(pool))):
            row = _row(task, person, index, pool, texts, wording)
            if row is None:
                skipped += 1
            else:
                records.append(row)
    return TaskRows(records, skipped)
