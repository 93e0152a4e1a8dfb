"""Vocabulary of the synthetic persona world, read from world_vocab.yaml beside this module. It lives in the core
because the world writes with it and analysis and evaluation read its ground truth back with it.

Each category has a persona phrase (how a description of the person says it), four answer words (what an answer
written for that kind of person mentions) and two cue words (what such a person drops into their own questions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from famous_persona.schema import Pair


@dataclass(frozen=True)
class Category:
    key: str
    phrase: str
    answers: tuple[str, str, str, str]
    cues: tuple[str, str]


@dataclass(frozen=True)
class Axis:
    name: str
    topics: tuple[str, ...]
    categories: tuple[Category, ...]


def _load() -> dict:
    return yaml.safe_load((Path(__file__).with_name("world_vocab.yaml")).read_text(encoding="utf-8"))


def _axis(raw: dict) -> Axis:
    categories = tuple(
        Category(c["key"], c["phrase"], tuple(c["answers"]), tuple(c["cues"]))  # type: ignore[arg-type]
        for c in raw["categories"]
    )
    return Axis(raw["name"], tuple(raw["topics"]), categories)


_RAW = _load()
AXES: tuple[Axis, ...] = tuple(_axis(axis) for axis in _RAW["axes"])
QUESTION_FRAMES: tuple[str, ...] = tuple(_RAW["question_frames"])
PERSONAL_FRAMES: tuple[str, ...] = tuple(_RAW["personal_frames"])
ANSWER_TEMPLATES: tuple[str, ...] = tuple(_RAW["answer_templates"])
GOLD_FRAMES: tuple[str, ...] = tuple(_RAW["gold_frames"])
FIRST_NAMES: tuple[str, ...] = tuple(_RAW["first_names"])
LAST_NAMES: tuple[str, ...] = tuple(_RAW["last_names"])
RACES: tuple[str, ...] = tuple(_RAW["races"])
ECONOMIC: tuple[str, ...] = tuple(_RAW["economic"])
ORIENTATIONS: tuple[str, ...] = tuple(_RAW["orientations"])
CATEGORIES = {axis.name: {category.key: category for category in axis.categories} for axis in AXES}


def is_synthetic(pairs: Sequence[Pair]) -> bool:
    """A dataset made by the synthetic world: every pair carries its ground-truth metadata."""
    return bool(pairs) and all((pair.meta or {}).get("synthetic") for pair in pairs)
