"""People: name keys and folds over people: by fold number, leave-one-axis-out, or one model per person."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from famous_persona.errors import DataError
from famous_persona.schema import Persona

FOLD_SCHEMES = ("fold", "axis", "person")


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


def held_out(people: Sequence[Persona], fold: int, scheme: str = "fold") -> set[str]:
    """Names of the unseen people of a fold; fold -1 (prompt-only) holds out everyone."""
    if fold < 0:
        return {person.name for person in people}
    if scheme == "fold":
        return {person.name for person in people if person.fold == fold}
    if scheme == "axis":
        axes = axis_folds(people)
        if fold >= len(axes):
            raise FoldError(f"axis fold {fold} does not exist: there are {len(axes)} axes ({', '.join(axes)})")
        return {person.name for person in people if axes[fold] in person.axes}
    if scheme == "person":
        names = sorted(person.name for person in people)
        if fold >= len(names):
            raise FoldError(f"person fold {fold} does not exist: there are {len(names)} people")
        return set(names) - {names[fold]}
    raise FoldError(f"unknown fold scheme {scheme!r}; expected one of {FOLD_SCHEMES}")


def split_people(people: Sequence[Persona], fold: int, scheme: str = "fold") -> tuple[list[str], list[str]]:
    """Seen (trained on) and unseen (held out) names for a fold; both must be non-empty."""
    unseen_names = held_out(people, fold, scheme)
    unseen = [person.name for person in people if person.name in unseen_names]
    seen = [person.name for person in people if person.name not in unseen_names]
    if not unseen:
        folds = sorted({person.fold for person in people}) if scheme == "fold" else axis_folds(people)
        raise FoldError(f"fold {fold} has no people (folds present: {folds})")
    if not seen:
        raise FoldError(f"fold {fold} holds out everyone: nobody is left to train on")
    return seen, unseen
