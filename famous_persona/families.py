"""The prefix families: one table that says, per family, its kind, whether it takes shots, how its text is written
without a model, how an inference model is asked for it, and how the synthetic world's templated inference writes it.
Method names (famous_persona.methods), prefix building, chat turns and the persona refresh all read this table, so
adding a family is one `register(Family(...))` call (docs/design.md, "How to add a prefix family")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from famous_persona import persona_prompts
from famous_persona.errors import DataError
from famous_persona.schema import Pair, Persona
from famous_persona.seeding import seeded
from famous_persona.wording import Wording
from famous_persona.world_personas import infer_persona, persona_of_quality, redescribe

TEMPLATE_MODEL = "template"
"""The built-in inference backend: the synthetic world's templated inference of known quality, used by a persona
method that names no model (or names `template`)."""


@dataclass(frozen=True)
class Draft:
    """One prefix to write: whose, for which pair (None: the person's own prefix), and from which shots."""

    person: Persona
    pair_id: str | None
    shots: tuple[Pair, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.person.name}|{self.pair_id or '-'}"


Text = Callable[[int, Draft], str]
"""(method seed, draft) → prefix text."""


class Request(Protocol):
    """(person name, shots, wording) → what an inference model is asked; no wording means the default one."""

    def __call__(self, name: str, shots: Sequence[Pair], wording: Wording | None = None) -> str: ...


@dataclass(frozen=True)
class Family:
    """One prefix family. `kind` is one of none, named, passive, active (shuffles are `control`); a family with a
    `request` or a `template` is a persona family: its text is shown after the persona lead-in, and with a `request`
    an inference model can write it."""

    name: str
    kind: str
    shots: bool = False
    text: Text | None = None
    request: Request | None = None
    template: Text | None = None

    @property
    def persona(self) -> bool:
        return self.request is not None or self.template is not None

    @property
    def shot_list(self) -> bool:
        """Its text lists its shots, so a token budget drops whole shots before cutting."""
        return self.shots and not self.persona


FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Add a family to the table (method names, building, baking and chat turns then know it)."""
    if family.text is None and family.request is None and family.template is None:
        raise ValueError(f"family {family.name!r} needs a text writer, an inference request or a template")
    FAMILIES[family.name] = family
    return family


def family(name: str) -> Family:
    if name not in FAMILIES:
        raise DataError(f"unknown prefix family {name!r}; known: {sorted(FAMILIES)}")
    return FAMILIES[name]


def format_xyw(shots: Sequence[Pair], with_rejected: bool) -> str:
    header = "Earlier questions from this user, with the answer they preferred"
    header += " and the one they did not:" if with_rejected else ":"
    blocks = []
    for pair in shots:
        block = f"Question: {pair.prompt}\nPreferred answer: {pair.chosen}"
        if with_rejected:
            block += f"\nRejected answer: {pair.rejected}"
        blocks.append(block)
    return "\n\n".join([header, *blocks])


def _gold_text(seed: int, draft: Draft) -> str:
    person = draft.person
    if person.description is None:
        raise DataError(f"{person.name} has no written description; a gold persona needs a model")
    if seed:
        return redescribe(person.axes, seeded(seed, "gold", person.name))
    return person.description


def _templated(use_answers: bool) -> Text:
    def write(seed: int, draft: Draft) -> str:
        own = (draft.pair_id,) if draft.pair_id else ()
        rng = seeded(seed, "text", draft.person.name, *own)
        return infer_persona(draft.shots, use_answers, len(draft.person.axes), rng)

    return write


def _of_quality(recall: int, precision: int) -> Text:
    def write(seed: int, draft: Draft) -> str:
        rng = seeded(seed, "quality", recall, precision, draft.person.name)
        return persona_of_quality(draft.person.axes, recall / 100, precision / 100, rng)

    return write


QUALITY_LEVELS = (0, 25, 50, 75, 100)
"""Percentages of the quality families `persona_r{recall}p{precision}`."""


def quality_family(recall: int, precision: int) -> str:
    """The name of the family whose personas state `recall`% of a person's axes, `precision`% of them right."""
    return f"persona_r{recall}p{precision}"


register(Family("no_prefix", "none", text=lambda seed, d: ""))
register(Family("tag", "passive", text=lambda seed, d: f"You are talking with user {d.person.tag}."))
register(Family("name", "named", text=lambda seed, d: f"Answer the way {d.person.name} would want it answered."))
register(Family("xyw", "passive", shots=True, text=lambda seed, d: format_xyw(d.shots, with_rejected=False)))
register(Family("xywyl", "passive", shots=True, text=lambda seed, d: format_xyw(d.shots, with_rejected=True)))
register(
    Family(
        "persona_gold",
        "active",
        text=_gold_text,
        request=lambda name, shots, wording=None: persona_prompts.from_name(name, wording),
    )
)
register(
    Family(
        "persona_xy",
        "active",
        shots=True,
        request=lambda name, shots, wording=None: persona_prompts.from_pairs(shots, True, wording),
        template=_templated(use_answers=True),
    )
)
register(
    Family(
        "persona_x",
        "active",
        shots=True,
        request=lambda name, shots, wording=None: persona_prompts.from_pairs(shots, False, wording),
        template=_templated(use_answers=False),
    )
)


def _register_quality_families() -> None:
    """Personas of set quality (famous_persona.world_personas.persona_of_quality), written by the templated backend
    from the person's true axes: the dose of the generalization dose-response (experiments/claims.sh)."""
    for recall in QUALITY_LEVELS:
        for precision in QUALITY_LEVELS:
            register(Family(quality_family(recall, precision), "active", template=_of_quality(recall, precision)))


_register_quality_families()
