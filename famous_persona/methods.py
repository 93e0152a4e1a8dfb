"""The grammar of prefix method names (SPEC §3.2), so every stage reads `xyw_2s_seed1` the same way."""

from __future__ import annotations

import re
from dataclasses import dataclass

from famous_persona.errors import DataError

FAMILIES = ("no_prefix", "tag", "name", "xyw", "xywyl", "persona_gold", "persona_xy", "persona_x")
KINDS = {
    "no_prefix": "none",
    "tag": "passive",
    "name": "named",
    "xyw": "passive",
    "xywyl": "passive",
    "persona_gold": "active",
    "persona_xy": "active",
    "persona_x": "active",
}
SHOT_FAMILIES = ("xyw", "xywyl", "persona_xy", "persona_x")
_PATTERN = re.compile(
    r"^(?P<shuffle>shuffle_)?"
    r"(?P<family>no_prefix|tag|name|persona_gold|xywyl|xyw|persona_xy|persona_x)"
    r"(?:_(?P<shots>\d+)s)?"
    r"(?:_(?P<model>(?!seed\d|bm25|emb|reverse)[A-Za-z0-9.\-]+))?"
    r"(?:_(?P<retrieval>bm25|emb))?(?P<reverse>_reverse)?"
    r"(?:_seed(?P<seed>\d+))?$"
)


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
        return "control" if self.shuffle else KINDS[self.family]

    @property
    def base(self) -> str:
        """The method this one is a shuffle of (itself when not shuffled)."""
        return self.name.removeprefix("shuffle_")


def parse_method(name: str) -> Method:
    match = _PATTERN.match(name)
    if match is None:
        raise DataError(f"unknown prefix method {name!r}; see SPEC §3.2 for the grammar (e.g. xyw_2s, persona_xy_4s)")
    family, shots = match["family"], match["shots"]
    if (family in SHOT_FAMILIES) != (shots is not None):
        raise DataError(
            f"prefix method {name!r}: {family} {'needs' if family in SHOT_FAMILIES else 'takes no'} _{{k}}s"
        )
    if shots is not None and int(shots) < 1:
        raise DataError(f"prefix method {name!r}: the number of shots must be at least 1")
    return Method(
        name=name,
        family=family,
        shots=int(shots) if shots else None,
        model=match["model"],
        retrieval=match["retrieval"],
        reverse=bool(match["reverse"]),
        seed=int(match["seed"] or 0),
        shuffle=bool(match["shuffle"]),
    )
