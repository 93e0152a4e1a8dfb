"""Record types of the dataset directory (docs/design.md §4) and their validation."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NonEmpty = Field(min_length=1)


class Record(BaseModel):
    """Strict base: wrong types and unknown fields are errors, never coerced or dropped."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Persona(Record):
    name: str = NonEmpty
    key: str = NonEmpty
    axes: dict[str, str]
    fold: int = Field(ge=0)
    tag: str = NonEmpty
    demographics: dict[str, Any] = Field(default_factory=dict)
    description: str | None = None


class Pair(Record):
    id: str = NonEmpty
    name: str = NonEmpty
    prompt: str = NonEmpty
    chosen: str = NonEmpty
    rejected: str = NonEmpty
    question_type: Literal["personal", "divergent"]
    axis: str | None = None
    split: Literal["train", "test"]
    meta: dict[str, Any] | None = None

    @field_validator("prompt", "chosen", "rejected")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @model_validator(mode="after")
    def _answers_differ(self) -> Pair:
        if self.chosen.strip() == self.rejected.strip():
            raise ValueError("chosen and rejected are identical")
        if self.question_type == "divergent" and not self.axis:
            raise ValueError("a divergent pair needs an axis")
        return self


class Prefix(Record):
    name: str = NonEmpty
    pair_id: str | None = None
    method: str = NonEmpty
    text: str
    shots: list[str] = Field(default_factory=list)
    model: str = NonEmpty
    seed: int | None = None


class Message(Record):
    role: Literal["system", "user", "assistant"]
    content: str


class DpoRecord(Record):
    """TRL's conversational preference format with an explicit prompt, plus bookkeeping. `persona_task` rows are
    training-only rows of the persona-inference task (sampling/persona_task.py)."""

    id: str = NonEmpty
    name: str = NonEmpty
    question_type: Literal["personal", "divergent", "persona_task"]
    axis: str | None = None
    prompt: list[Message] = Field(min_length=1)
    chosen: list[Message] = Field(min_length=1, max_length=1)
    rejected: list[Message] = Field(min_length=1, max_length=1)

    @model_validator(mode="after")
    def _completions_are_assistant(self) -> DpoRecord:
        for side in (self.chosen, self.rejected):
            if side[0].role != "assistant" or not side[0].content.strip():
                raise ValueError("chosen and rejected must each be one non-empty assistant message")
        if self.chosen[0].content == self.rejected[0].content:
            raise ValueError("chosen and rejected are identical")
        return self
