"""Persona texts of the synthetic world: the gold description, and a templated "inference model" of known quality
that writes only what k shots reveal (docs/design.md §8)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from famous_persona import world_vocab as vocab
from famous_persona.schema import Pair

WHO_AXES = ("age", "gender", "geographical location", "profession", "education level", "family/marriage status")
SUBJECTS = ("This user", "The person", "This individual")
UNKNOWN = "Nothing else about them is known."
NOTHING = "Nothing is known about this user yet."
CATEGORIES = vocab.CATEGORIES


def _sentence(category: vocab.Category, rng: random.Random) -> str:
    subject = rng.choice(SUBJECTS)
    return rng.choice(vocab.GOLD_FRAMES).format(subject=subject, subject_lower=subject.lower(), phrase=category.phrase)


def describe(categories: Mapping[str, vocab.Category], rng: random.Random, complete: bool = True) -> str:
    """Two short paragraphs: who the user is, then what shapes what they want; `complete=False` adds that the
    rest is unknown."""
    who = [_sentence(c, rng) for axis, c in categories.items() if axis in WHO_AXES]
    wants = [_sentence(c, rng) for axis, c in categories.items() if axis not in WHO_AXES]
    paragraphs = [" ".join(who), " ".join(wants)]
    if not complete:
        paragraphs.append(UNKNOWN)
    text = "\n\n".join(p for p in paragraphs if p)
    return text or NOTHING


def redescribe(axes: Mapping[str, str], rng: random.Random) -> str:
    """The same ground truth in another draw of phrasing: a re-sampled gold persona."""
    return describe({axis: CATEGORIES[axis][key] for axis, key in axes.items()}, rng)


def revealed_categories(shots: Sequence[Pair], use_answers: bool) -> dict[str, vocab.Category]:
    """What a careful reader learns from the shots: with answers, the category of each preferred answer (a flipped
    label misleads it, as it would a real model); from questions alone, only the cue words of personal questions."""
    found: dict[str, vocab.Category] = {}
    for pair in shots:
        meta = pair.meta or {}
        axis = meta["world_axis"]
        if use_answers:
            found.setdefault(axis, CATEGORIES[axis][meta["chosen_category"]])
        elif pair.question_type == "personal":
            found.setdefault(axis, CATEGORIES[axis][meta["person_category"]])
    return found


def infer_persona(shots: Sequence[Pair], use_answers: bool, n_axes: int, rng: random.Random) -> str:
    """The templated inference: describe only the revealed axes, in the gold persona's wording; when fewer than the
    person's `n_axes` are revealed, the text says the rest is unknown."""
    found = revealed_categories(shots, use_answers)
    ordered = {axis.name: found[axis.name] for axis in vocab.AXES if axis.name in found}
    return describe(ordered, rng, complete=len(ordered) >= n_axes)


def _stochastic_round(value: float, rng: random.Random) -> int:
    """Floor or ceiling with the fraction as the chance of rounding up, so the count is right on average."""
    whole = int(value)
    return whole + (rng.random() < value - whole)


def persona_of_quality(axes: Mapping[str, str], recall: float, precision: float, rng: random.Random) -> str:
    """A persona of set quality in the gold wording: it states a `recall` share of the person's axes, and a
    `1 - precision` share of those stated facts name a wrong category of the right axis. Attribute recall as
    persona_quality measures it (correct facts over true axes) is then recall × precision."""
    if not (0 <= recall <= 1 and 0 <= precision <= 1):
        raise ValueError(f"recall and precision must be in [0, 1], got {recall} and {precision}")
    ordered = [axis.name for axis in vocab.AXES if axis.name in axes]
    stated = sorted(rng.sample(ordered, _stochastic_round(recall * len(ordered), rng)), key=ordered.index)
    wrong = set(rng.sample(stated, _stochastic_round((1 - precision) * len(stated), rng)))
    categories = {}
    for axis in stated:
        true = CATEGORIES[axis][axes[axis]]
        others = [c for c in CATEGORIES[axis].values() if c is not true]
        categories[axis] = rng.choice(others) if axis in wrong else true
    return describe(categories, rng, complete=len(stated) == len(ordered))
