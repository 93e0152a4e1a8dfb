"""People: name keys and cross-validation folds over people."""

from __future__ import annotations

from collections.abc import Sequence

from famous_persona.errors import DataError
from famous_persona.schema import Persona


def name_key(name: str) -> str:
    """The normalised key of a display name, e.g. 'Alexandria Ocasio-Cortez' -> 'alexandriaocasio-cortez'."""
    return "".join(name.lower().split())


class FoldError(DataError):
    """A fold that cannot be trained or evaluated."""


def split_people(people: Sequence[Persona], fold: int) -> tuple[list[str], list[str]]:
    """Seen (trained on) and unseen (held out) names for a fold; both must be non-empty."""
    folds = sorted({person.fold for person in people})
    unseen = [person.name for person in people if person.fold == fold]
    seen = [person.name for person in people if person.fold != fold]
    if not unseen:
        raise FoldError(f"fold {fold} has no people (folds present: {folds})")
    if not seen:
        raise FoldError(f"fold {fold} holds out everyone: nobody is left to train on")
    return seen, unseen


def is_seen(person: Persona, fold: int) -> bool:
    """A person is seen in a fold when trained on; fold -1 (prompt-only) sees nobody."""
    return fold >= 0 and person.fold != fold
