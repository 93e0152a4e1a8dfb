"""The wording a user may replace: the persona lead-in of the user turn, the persona-inference request and the
persona judge's request. The defaults are wording.yaml beside this module; a stage's `--wording FILE` replaces any of
its fields, and a run records the sha256 of each part it used, so outputs made with other words are told apart
(docs/design.md §3). It reads its YAML itself, not through famous_persona.config: that module imports the I/O
module, which imports the prefix families, which word their requests through this one."""

from __future__ import annotations

import functools
import hashlib
import json
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from famous_persona.errors import DataError

DEFAULT_FILE = Path(__file__).with_name("wording.yaml")


@dataclass(frozen=True)
class Slot:
    """One replaceable text: the part of the wording it belongs to (a run records each part it used: `lead_in` when
    baking, `persona` for persona inference and the persona task, `judge`), and the placeholders the code fills in it
    (a text with `required` None is used as it is, braces and all)."""

    part: str
    required: frozenset[str] | None = None
    optional: frozenset[str] = frozenset()


SLOTS = {
    "lead_in": Slot("lead_in"),
    "persona_task": Slot("persona"),
    "persona_from_pairs": Slot("persona", frozenset({"shots"}), frozenset({"n", "answers"})),
    "persona_answers": Slot("persona"),
    "persona_shot": Slot("persona", frozenset({"question"}), frozenset({"index"})),
    "persona_shot_answers": Slot("persona", frozenset({"chosen", "rejected"})),
    "persona_from_name": Slot("persona", frozenset({"name"})),
    "judge_task": Slot("judge"),
    "judge_request": Slot("judge", frozenset({"name", "question", "first", "second"})),
}


@dataclass(frozen=True)
class Wording:
    """The text of every slot, and the file whose fields replaced some of the defaults (None: none did)."""

    texts: Mapping[str, str]
    path: str | None = None
    replaced: frozenset[str] = frozenset()

    def __getitem__(self, slot: str) -> str:
        return self.texts[slot]

    def fill(self, slot: str, **values: object) -> str:
        """A templated slot with the code's values in its placeholders."""
        return self.texts[slot].format(**values)

    def digest(self, part: str) -> str:
        """sha256 of the part's texts (canonical JSON of slot: text): the same digest, the same prompts."""
        texts = {slot: text for slot, text in self.texts.items() if SLOTS[slot].part == part}
        return hashlib.sha256(json.dumps(texts, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()

    def record(self, *parts: str) -> dict[str, dict[str, str]]:
        """What a manifest says of the parts a run used: each one's digest, and the file where it replaced any."""
        entries = {}
        for part in parts:
            entries[part] = {"sha256": self.digest(part)}
            if any(SLOTS[slot].part == part for slot in self.replaced):
                entries[part]["path"] = str(self.path)
        return entries


def _placeholder_problem(slot: Slot, text: str) -> str | None:
    """Why `text` cannot stand in `slot` (None when it can): a placeholder the code fills is missing, or one it does
    not fill is present, or a brace is unbalanced."""
    if slot.required is None:
        return None
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as error:
        return f"is not a template ({error}); write {{{{ or }}}} for a literal brace"
    missing, unknown = slot.required - names, names - slot.required - slot.optional
    if missing:
        return f"lacks the placeholder(s) {_braced(missing)}, which the code fills"
    if unknown:
        return f"has placeholder(s) {_braced(unknown)} the code does not fill; it fills {_braced(slot.required)}"
    return None


def _braced(names: frozenset[str] | set[str]) -> str:
    return " ".join(f"{{{name}}}" for name in sorted(names))


def _read(path: Path) -> dict[str, str]:
    """The fields of one wording file, each checked: a known slot, a text, the placeholders the code fills."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise DataError(f"{path}: not a readable wording file ({' '.join(str(error).split())})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected 'field: text' lines, got a YAML {type(data).__name__}")
    for key, value in data.items():
        if key not in SLOTS:
            raise DataError(f"{path}: field '{key}' is not a wording field; known: {sorted(SLOTS)}")
        if not isinstance(value, str):
            raise DataError(f"{path}: field '{key}' must be a text (\"\" for none), got {value!r}")
        problem = _placeholder_problem(SLOTS[key], value)
        if problem:
            raise DataError(f"{path}: field '{key}' {problem}")
    return data


@functools.cache
def default_wording() -> Wording:
    """The shipped wording (wording.yaml)."""
    return Wording(_read(DEFAULT_FILE))


def load_wording(path: Path | str | None = None) -> Wording:
    """The default wording, with the fields of the file at `path` (when given) in place of theirs."""
    if path is None:
        return default_wording()
    given = _read(Path(path))
    return Wording({**default_wording().texts, **given}, str(path), frozenset(given))
