"""The training algorithms, one entry each: adding one is an entry here, its stage module and its recipes
(docs/design.md §15.3). Stage modules are named as strings, so this floor of the project imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from famous_persona.errors import DataError

ROW_FORMATS = {
    "pairs": "a prompt with its chosen and its rejected answer",
    "chosen": "a prompt with its chosen answer only",
    "unpaired": "a prompt with one answer and a desirable/undesirable label, two rows per pair",
}
"""What a trainer's rows look like; every format is made from the baked DPO rows by `famous_persona.chat`."""


@dataclass(frozen=True)
class TrainerEntry:
    """One algorithm: the stage module that trains it, its recipe file in `experiments/configs/models/<model>/`,
    the rows it trains on (a key of ROW_FORMATS), the policy its loss is measured against, and the epochs of a
    smoke run (`famous-persona run --smoke`)."""

    name: str
    module: str
    recipe: str
    rows: str
    reference: str
    smoke_epochs: int = 1


TRAINERS: dict[str, TrainerEntry] = {}


def register(entry: TrainerEntry) -> TrainerEntry:
    """Add an entry; a second entry of one name or an unknown row format is a mistake in the code, caught at import."""
    if entry.name in TRAINERS:
        raise ValueError(f"trainer {entry.name!r} is registered twice")
    if entry.rows not in ROW_FORMATS:
        raise ValueError(f"trainer {entry.name!r}: rows must be one of {sorted(ROW_FORMATS)}, got {entry.rows!r}")
    TRAINERS[entry.name] = entry
    return entry


def trainer(name: str) -> TrainerEntry:
    """The entry of `name`; an unknown name is the user's to fix, so the message lists the known ones."""
    if name not in TRAINERS:
        raise DataError(f"unknown trainer {name!r}; known trainers: {', '.join(sorted(TRAINERS))}")
    return TRAINERS[name]


def trained_by(stage: str | None) -> str | None:
    """The trainer whose stage module wrote a run manifest (its `stage`), or None for anything else."""
    return next((entry.name for entry in TRAINERS.values() if entry.module == stage), None)


register(TrainerEntry("dpo", "training.dpo", "dpo.yaml", "pairs", "the starting model (with LoRA: adapter off)"))
register(TrainerEntry("sft", "training.sft", "sft.yaml", "chosen", "none", smoke_epochs=4))
register(TrainerEntry("vpl", "training.vpl", "vpl.yaml", "pairs", "the starting model, reading the same soft token"))
register(TrainerEntry("kto", "training.kto", "kto.yaml", "unpaired", "the starting model (with LoRA: adapter off)"))
