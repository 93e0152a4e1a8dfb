"""The figure registry: every figure of every page registered once, with the inputs it reads and the page section
it belongs to (docs/design.md §12). A page draws the figures of a section in the order they were registered."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from string import Formatter

SECTIONS = {
    "accuracy": "report",
    "behaviour": "report",
    "quality": "report",
    "training": "report",
    "bias": "report",
    "claims": "claims",
}
"""Each section a figure can belong to, and the page (report/index.html or claims.html) that holds it."""
INPUTS = {
    "results": "results.csv as a table",
    "metric": "the accuracy metric of the page",
    "experiment_dir": "the experiment folder",
    "quality_file": "analysis.persona_quality's rows of the experiment or dataset",
    "bias_groups": "analysis.bias's mean improvement per group",
    "behaviour": "one behavioural metric (a figure of the behaviour section is drawn once per metric)",
    "claims": "analysis.claims's effects and verdicts",
}
"""What a figure can ask for, as the pages name it: a figure needs a subset of these."""


class Skip(Exception):
    """A figure that cannot be drawn from these inputs; the message says why, and the page prints it instead."""


class _Given(dict):
    """Inputs for a title: one the page did not give stays as its placeholder."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True)
class Figure:
    """One figure: `draw(path, **inputs)` writes the PNG at `path` and returns its caption (or None), or a row of
    numbers that the page shows as a table titled `summary` under it. The title may name a text input in braces
    (`{behaviour}`), which the page fills in."""

    name: str
    title: str
    draw: Callable[..., str | dict | None]
    needs: tuple[str, ...]
    section: str
    summary: str = ""

    @property
    def page(self) -> str:
        return SECTIONS[self.section]

    def heading(self, inputs: dict) -> str:
        """The title with the inputs it names filled in."""
        return self.title.format_map(_Given({need: inputs[need] for need in self.needs if need in inputs}))


REGISTRY: dict[tuple[str, str], Figure] = {}
"""(page, name) -> figure, in registration order; a name is a file name on its page's folder, so it is unique there."""


def register(entry: Figure) -> Figure:
    """Add a figure, refusing an unknown section or input, and a name already used on the same page."""
    if entry.section not in SECTIONS:
        raise ValueError(f"figure {entry.name!r}: unknown section {entry.section!r}; sections: {', '.join(SECTIONS)}")
    unknown = sorted(set(entry.needs) - set(INPUTS))
    if unknown:
        raise ValueError(f"figure {entry.name!r}: unknown inputs {unknown}; inputs: {', '.join(INPUTS)}")
    named = {field for _, field, _, _ in Formatter().parse(entry.title) if field}
    if not named <= set(entry.needs):
        raise ValueError(f"figure {entry.name!r}: its title names {sorted(named)}, which it does not need")
    key = (entry.page, entry.name)
    if key in REGISTRY:
        raise ValueError(f"figure {entry.name!r} is already registered on the {entry.page} page")
    REGISTRY[key] = entry
    return entry


def figure(name: str, title: str, section: str, needs: tuple[str, ...], summary: str = "") -> Callable:
    """Register the decorated drawing function as a figure; the function itself is returned unchanged."""

    def decorate(draw: Callable[..., str | dict | None]) -> Callable[..., str | dict | None]:
        register(Figure(name, title, draw, needs, section, summary))
        return draw

    return decorate


def figures_in(section: str) -> list[Figure]:
    """The figures of a section, in registration order."""
    return [entry for entry in REGISTRY.values() if entry.section == section]


def draw(entry: Figure, inputs: dict, folder: Path, suffix: str = "") -> tuple[Path, str | dict | None]:
    """Draw a figure into `folder`/<name><suffix>.png from the inputs it needs; Skip names any that are missing."""
    missing = [need for need in entry.needs if need not in inputs]
    if missing:
        raise Skip(f"needs {', '.join(INPUTS[need] for need in missing)}")
    path = folder / f"{entry.name}{suffix}.png"
    return path, entry.draw(path=path, **{need: inputs[need] for need in entry.needs})
