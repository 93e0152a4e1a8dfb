"""The grammar of prefix method names (docs/design.md §5) and of training-set names built from them, so every
stage reads
`xyw_2s_seed1` or `persona_xy_4s+persona_task_4s_from_persona_gold` the same way."""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass

from famous_persona.errors import DataError
from famous_persona.families import FAMILIES, TEMPLATE_MODEL, family

_MODIFIERS = (
    r"(?:_(?P<shots>\d+)s)?"
    r"(?:_(?P<model>(?!seed\d|bm25|emb|reverse)[A-Za-z0-9.\-]+))?"
    r"(?:_(?P<retrieval>bm25|emb))?(?P<reverse>_reverse)?"
    r"(?:_seed(?P<seed>\d+))?$"
)


@functools.cache
def _compiled(names: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"^(?P<shuffle>shuffle_)?(?P<family>" + "|".join(map(re.escape, names)) + ")" + _MODIFIERS)


def _pattern() -> re.Pattern[str]:
    """The grammar over the registered families, longest name first so `xywyl` is never read as `xyw`."""
    return _compiled(tuple(sorted(FAMILIES, key=lambda name: (-len(name), name))))


@dataclass(frozen=True)
class Method:
    """A parsed method name; `name` is the original string."""

    name: str
    family: str
    shots: int | None
    model: str | None
    retrieval: str | None
    reverse: bool
    seed: int
    shuffle: bool

    @property
    def kind(self) -> str:
        return "control" if self.shuffle else family(self.family).kind

    @property
    def persona(self) -> bool:
        """A persona method: its text is a persona, which a model can infer."""
        return family(self.family).persona

    @property
    def base(self) -> str:
        """The method this one is a shuffle of (itself when not shuffled)."""
        return self.name.removeprefix("shuffle_")

    @property
    def released(self) -> bool:
        """Its text comes with the imported data (`persona_gold_gpt4-released`), so it is read, never written."""
        return self.model is not None and self.model.endswith(f"-{RELEASED}")


RELEASED = "released"
"""The mark on the writer of a persona taken from a released people-file column instead of asked of a model."""


def released_name(column: str) -> str:
    """The method of a released people-file column: `persona_gold_gpt4` (GPT-4's gold personas) becomes
    `persona_gold_gpt4-released`, so it never clashes with personas this project asks GPT-4 for. Only a persona of
    the whole person with a named writer qualifies: a shot-based column does not say which pairs it was built from,
    so the leakage rules of docs/design.md §6 could not hold."""
    method = parse_method(column)
    if method.shuffle:
        raise DataError(f"{column}: a shuffle is built from its base method, not imported")
    if not method.persona or method.shots is not None or method.retrieval is not None:
        raise DataError(f"{column}: its shots are not released, so no training row could be kept from seeing itself")
    if method.model is None or method.released:
        raise DataError(f"{column}: it names no model that wrote it")
    return f"{method.family}_{method.model}-{RELEASED}" + (f"_seed{method.seed}" if method.seed else "")


SUFFIXES = ("bm25", "emb", "reverse", "seed")
"""The suffix words of the grammar after the model: a model name that nearly spells one is a typo, not a model."""


def _check_model_suffix(name: str, family_name: str, writes_persona: bool, model: str | None) -> None:
    """Only a persona family takes a `_{model}`; elsewhere, and wherever it nearly spells a suffix word, the part is
    an unknown suffix."""
    if model is None or model == TEMPLATE_MODEL:
        return
    close = difflib.get_close_matches(model.rstrip("0123456789"), SUFFIXES, 1)
    if close:
        raise DataError(f"prefix method {name!r}: unknown suffix '_{model}' (did you mean _{close[0]}?)")
    if not writes_persona:
        raise DataError(
            f"prefix method {name!r}: unknown suffix '_{model}'; {family_name} is written by the templated backend, "
            "not by a model"
        )


def parse_method(name: str) -> Method:
    match = _pattern().match(name)
    if match is None:
        raise DataError(
            f"unknown prefix method {name!r}; see docs/design.md §5 for the grammar (e.g. xyw_2s, persona_xy_4s)"
        )
    kin, shots = family(match["family"]), match["shots"]
    if kin.shots != (shots is not None):
        raise DataError(f"prefix method {name!r}: {kin.name} {'needs' if kin.shots else 'takes no'} _{{k}}s")
    _check_model_suffix(name, kin.name, kin.request is not None, match["model"])
    if shots is not None and int(shots) < 1:
        raise DataError(f"prefix method {name!r}: the number of shots must be at least 1")
    return Method(
        name=name,
        family=kin.name,
        shots=int(shots) if shots else None,
        model=match["model"],
        retrieval=match["retrieval"],
        reverse=bool(match["reverse"]),
        seed=int(match["seed"] or 0),
        shuffle=bool(match["shuffle"]),
    )


MIX = "+"
"""Joins the parts of a training set: `xyw_2s+persona_gold` trains on the rows of both, in that order."""
TASK_LEAD = "persona_task_"
_TASK = re.compile(
    r"^persona_task_(?P<shots>\d+)s_from_(?P<source>(?:(?!_ratio).)+)(?:_ratio(?P<ratio>\d+(?:\.\d+)?))?$"
)


@dataclass(frozen=True)
class PersonaTask:
    """A parsed `persona_task_{k}s_from_{source}[_ratio{r}]` part: from k of a person's train pairs, prefer their own
    `source` persona over another person's; `ratio` task rows per train pair of the person."""

    name: str
    shots: int
    source: Method
    ratio: float


def is_persona_task(name: str) -> bool:
    return name.startswith(TASK_LEAD)


def parse_persona_task(name: str) -> PersonaTask:
    match = _TASK.match(name)
    if match is None:
        raise DataError(f"persona task {name!r}: expected persona_task_{{k}}s_from_{{persona method}}[_ratio{{r}}]")
    try:
        source = parse_method(match["source"])
    except DataError as error:
        raise DataError(f"persona task {name!r}: {error}") from None
    if not source.persona or source.shuffle or source.retrieval is not None:
        raise DataError(
            f"persona task {name!r}: the source must give each person their own persona (persona_gold, "
            f"persona_xy_4s, ...), not {source.name!r}"
        )
    shots, ratio = int(match["shots"]), float(match["ratio"] or 1.0)
    if shots < 1 or ratio <= 0:
        raise DataError(f"persona task {name!r}: the shots must be at least 1 and the ratio above 0")
    return PersonaTask(name=name, shots=shots, source=source, ratio=ratio)


def split_training_set(name: str) -> list[str]:
    """The parts of a training set in their order, each checked: a prefix method or a persona task. A single method
    is a one-part set."""
    parts = name.split(MIX)
    if "" in parts:
        raise DataError(f"training set {name!r} has an empty part; join names with '+', e.g. xyw_2s+persona_gold")
    for part in parts:
        try:
            parse_persona_task(part) if is_persona_task(part) else parse_method(part)
        except DataError as error:
            raise DataError(f"training set {name!r}: {error}") from None
    return parts


def is_training_only(name: str) -> bool:
    """Mixes and persona tasks have train rows only: a model is tested with one prefix method."""
    return MIX in name or is_persona_task(name)


def prefix_sources(name: str) -> list[str]:
    """The prefix files a training set is baked from: each method part, and each persona task's source."""
    parts = split_training_set(name)
    return list(dict.fromkeys(parse_persona_task(p).source.name if is_persona_task(p) else p for p in parts))


def scored_methods(name: str) -> list[str]:
    """The single prefix methods a model trained on `name` is tested with by default: its method parts."""
    methods = [part for part in split_training_set(name) if not is_persona_task(part)]
    if not methods:
        raise DataError(f"training set {name!r} has no prefix method to test with; name one as the test method")
    return methods
