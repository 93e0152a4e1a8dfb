"""People: name keys and folds over people: by fold number, leave-one-axis-out, or one model per person."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from famous_persona.errors import DataError
from famous_persona.schema import DpoRecord, Persona

FOLD_SCHEMES = ("fold", "axis", "person")
PROMPT_ONLY_FOLD = -1


def name_key(name: str) -> str:
    """The normalised key of a display name, e.g. 'Alexandria Ocasio-Cortez' -> 'alexandriaocasio-cortez'."""
    return "".join(name.lower().split())


def require_train_pairs(method: str, counts: Mapping[str, int], need: int, why: str) -> None:
    """Refuse a shot method that some people cannot fill, naming them with their train-pair counts: nobody is
    silently given fewer shots."""
    short = {name: count for name, count in counts.items() if count < need}
    if short:
        listed = ", ".join(f"{name} ({count})" for name, count in list(short.items())[:5])
        more = f" and {len(short) - 5} more" if len(short) > 5 else ""
        raise DataError(
            f"{method}: needs {need} train pairs per person ({why}); {len(short)} of {len(counts)} people have "
            f"fewer: {listed}{more}"
        )


class FoldError(DataError):
    """A fold that cannot be trained or evaluated."""


def axis_folds(people: Sequence[Persona]) -> list[str]:
    """Leave-one-axis-out folds: fold k holds out the people on the k-th axis (sorted by name)."""
    return sorted({axis for person in people for axis in person.axes})


def _held_out(people: Sequence[Persona], fold: int, scheme: str) -> set[str]:
    """Names of the unseen people of a fold that exists in its scheme."""
    if scheme == "fold":
        unseen = {person.name for person in people if person.fold == fold}
        if not unseen:
            raise FoldError(f"fold {fold} has no people (folds present: {sorted({p.fold for p in people})})")
        return unseen
    if scheme == "axis":
        axes = axis_folds(people)
        if fold >= len(axes):
            raise FoldError(f"axis fold {fold} does not exist: there are {len(axes)} axes ({', '.join(axes)})")
        return {person.name for person in people if axes[fold] in person.axes}
    names = sorted(person.name for person in people)
    if fold >= len(names):
        raise FoldError(f"person fold {fold} does not exist: there are {len(names)} people")
    return set(names) - {names[fold]}


def split_people(
    people: Sequence[Persona], fold: int, scheme: str = "fold", prompt_only: bool = False
) -> tuple[list[str], list[str]]:
    """Seen and unseen names of a fold: the one fold check of training, scoring and generation. The fold must exist
    in its scheme and leave people on both sides; fold -1 (everyone unseen) is only for an untrained model."""
    if scheme not in FOLD_SCHEMES:
        raise FoldError(f"unknown fold scheme {scheme!r}; expected one of {FOLD_SCHEMES}")
    if fold == PROMPT_ONLY_FOLD and prompt_only:
        return [], [person.name for person in people]
    if fold == PROMPT_ONLY_FOLD:
        raise FoldError(
            "fold -1 (everyone unseen) is only for prompt-only scores of an untrained model (train_method "
            "none); give the fold the model was trained for"
        )
    if fold < 0:
        raise FoldError(f"fold {fold} does not exist: folds count from 0 (-1 is for prompt-only scores)")
    unseen_names = _held_out(people, fold, scheme)
    unseen = [person.name for person in people if person.name in unseen_names]
    seen = [person.name for person in people if person.name not in unseen_names]
    if not seen:
        raise FoldError(f"fold {fold} holds out everyone: nobody is left to train on")
    return seen, unseen


def deal_per_person(rows: list[DpoRecord], limit: int, rng: random.Random) -> list[DpoRecord]:
    """At most `limit` distinct pairs, dealt one person at a time so every seen person keeps a near-equal share."""
    if limit < 1:
        raise DataError(f"max_train_pairs: must be at least 1, got {limit}")
    queues: dict[str, list[str]] = {}
    for row in rows:
        if row.id not in queues.setdefault(row.name, []):
            queues[row.name].append(row.id)
    for ids in queues.values():
        rng.shuffle(ids)
    chosen: set[tuple[str, str]] = set()
    while len(chosen) < limit and any(queues.values()):
        for name, ids in queues.items():
            if ids and len(chosen) < limit:
                chosen.add((name, ids.pop()))
    return [row for row in rows if (row.name, row.id) in chosen]
