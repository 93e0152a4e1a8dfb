"""Persona refresh: the model being trained re-infers the personas of one persona method every N epochs, and the
training rows that show those personas are re-baked with the new texts, so a small model learns on its own inferences.

Training runs in rounds of N epochs on the same model (each round starts a fresh optimiser and schedule). After each
round the policy re-infers every person's prefixes of the method from the same shots, with the request of
`famous_persona.persona_prompts`; the texts, the model and a log line with persona quality (ROUGE-L to the gold
persona) go to <output_dir>/refresh/, so a crashed run resumes after the last finished round.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from famous_persona import persona_prompts
from famous_persona.chat import user_turn
from famous_persona.decoding import generate
from famous_persona.errors import DataError
from famous_persona.families import family
from famous_persona.io import DatasetDir, read_jsonl, read_rows, write_jsonl
from famous_persona.methods import parse_method
from famous_persona.schema import DpoRecord, Message, Prefix
from famous_persona.text_overlap import rouge_l
from training.resume import last_checkpoint

logger = logging.getLogger(__name__)

Key = tuple[str, str | None]


@dataclass
class RefreshArguments:
    refresh_every: int = field(
        default=0, metadata={"help": "Re-infer personas with the model being trained every N epochs (0 = never)."}
    )
    refresh_method: str | None = field(
        default=None,
        metadata={"help": "Persona method whose prefixes are re-inferred (a part of a '+' set); default: the method."},
    )
    refresh_max_new_tokens: int = field(default=512, metadata={"help": "Tokens per re-inferred persona."})
    refresh_batch_size: int = field(default=16, metadata={"help": "Personas generated at once."})


class PersonaRefresher:
    """Holds the current text of every prefix of one persona method and rewrites rows that show an older one."""

    def __init__(
        self, dataset: DatasetDir, method: str, args: RefreshArguments, out: Path, system_prompt: str | None = None
    ):
        parsed = parse_method(method)
        if family(parsed.family).request is None or parsed.shuffle:
            raise DataError(f"refresh_method {method!r}: only persona_* methods (not shuffles) can be re-inferred")
        self.method, self.parsed, self.args, self.out = method, parsed, args, out
        self.system_prompt = system_prompt
        self.prefixes = dataset.prefixes(method)
        self.pairs = {pair.id: pair for pair in dataset.pairs()}
        self.gold = {p.name: p.description for p in dataset.personas() if p.description}
        self.texts: dict[Key, str] = {(p.name, p.pair_id): p.text for p in self.prefixes}

    def log(self) -> list[dict[str, Any]]:
        """One line per finished round (its texts and model are on disk before its line is written)."""
        path = self.out / "log.jsonl"
        return read_rows(path) if path.is_file() else []

    def record(self, entry: dict[str, Any]) -> None:
        write_jsonl(self.out / "log.jsonl", [*(e for e in self.log() if e["round"] != entry["round"]), entry])
        logger.info("persona refresh: %s", entry)

    def refresh(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, round_index: int, seed: int) -> dict:
        """Re-infer every prefix with `model`; write the texts and return the round's log line."""
        requests = [self._request(p) for p in self.prefixes]
        was_training = model.training
        model.eval()
        replies = []
        for start in range(0, len(requests), self.args.refresh_batch_size):
            chats = [[{"role": "user", "content": r}] for r in requests[start : start + self.args.refresh_batch_size]]
            limit = self.args.refresh_max_new_tokens
            replies += generate(model, tokenizer, chats, limit, seed=seed + start, system_prompt=self.system_prompt)
        model.train(was_training)
        records, empty = [], 0
        for prefix, reply in zip(self.prefixes, replies, strict=True):
            text = persona_prompts.clean(reply.text)
            empty += not text
            records.append(
                prefix.model_copy(
                    update={
                        "text": text or self.texts[(prefix.name, prefix.pair_id)],
                        "model": f"policy@round{round_index}",
                    }
                )
            )
        write_jsonl(self.out / f"round{round_index}" / "prefixes.jsonl", records)
        return {
            "round": round_index,
            "prefixes": len(records),
            "empty_kept_previous": empty,
            "hit_token_limit": sum(not r.finished for r in replies),
            "rouge_l_to_gold": self._quality(records),
        }

    def apply(self, parts: Sequence[Sequence[DpoRecord]], round_index: int) -> list[list[DpoRecord]]:
        """Each list of rows (train, validation) re-baked with the texts of a finished round (none before round 0)."""
        if round_index < 0:
            return [list(rows) for rows in parts]
        done = read_jsonl(self.out / f"round{round_index}" / "prefixes.jsonl", Prefix)
        new = {(p.name, p.pair_id): p.text for p in done}
        rebaked = [self._rebake(rows, new) for rows in parts]
        self.texts.update(new)
        return rebaked

    def _request(self, prefix: Prefix) -> str:
        shots = [self.pairs[i] for i in prefix.shots]
        return family(self.parsed.family).request(prefix.name, shots)

    def check_shown(self, rows: Sequence[DpoRecord]) -> None:
        """Refuse a refresh that would change nothing: no training row shows this method's prefixes."""
        if not any(self._shown(row) for row in rows):
            raise DataError(
                f"refresh_method {self.method!r}: no training row shows its prefixes; name the train method or a "
                "part of its '+' training set"
            )

    def _shown(self, row: DpoRecord) -> Key | None:
        """The prefix key whose current text this row's user turn shows, if it shows one of this method."""
        key = (row.name, row.id) if (row.name, row.id) in self.texts else (row.name, None)
        pair = self.pairs.get(row.id)
        if pair is None or key not in self.texts:
            return None
        return key if row.prompt[-1].content == self._turn(self.texts[key], pair.prompt) else None

    def _rebake(self, rows: Sequence[DpoRecord], new: dict[Key, str]) -> list[DpoRecord]:
        """Rows whose user turn shows this method's current prefix get the new text; other rows are left alone."""
        out = []
        for row in rows:
            key = self._shown(row)
            if key is None:
                out.append(row)
                continue
            content = self._turn(new[key], self.pairs[row.id].prompt)
            out.append(row.model_copy(update={"prompt": [*row.prompt[:-1], Message(role="user", content=content)]}))
        return out

    def _turn(self, text: str, question: str) -> str:
        return user_turn(self.method, text, question)

    def _quality(self, records: Sequence[Prefix]) -> float | None:
        scores = [rouge_l(r.text, self.gold[r.name]) for r in records if r.name in self.gold]
        return round(statistics.fmean(scores), 4) if scores else None


def train_in_rounds(
    refresher: PersonaRefresher,
    rows: tuple[list[DpoRecord], list[DpoRecord]],
    epochs: float,
    every: int,
    make_trainer: Callable[[list[DpoRecord], list[DpoRecord], int, float], Any],
    tokenizer: PreTrainedTokenizerBase,
    seed: int,
) -> tuple[Any, str | None, float]:
    """Train round by round, re-inferring after each; returns the last trainer, the checkpoint resumed from and the
    seconds spent training (the rounds' `train_runtime`)."""
    rounds = max(1, -(-int(epochs) // every))
    refresher.check_shown(rows[0])
    first = min(len(refresher.log()), rounds - 1)
    train_rows, validation_rows = refresher.apply(rows, first - 1)
    trainer, resumed, seconds = None, None, 0.0
    for round_index in range(first, rounds):
        trainer = make_trainer(train_rows, validation_rows, round_index, min(every, epochs - round_index * every))
        own = last_checkpoint(trainer.args.output_dir)
        if round_index == first and own is None:
            resumed = _load_previous_round(trainer, refresher.out, round_index)
        seconds += trainer.train(resume_from_checkpoint=own).metrics["train_runtime"]
        resumed = resumed or own
        entry = refresher.refresh(trainer.model, tokenizer, round_index, seed + round_index)
        if round_index < rounds - 1:
            trainer.save_model(str(refresher.out / f"round{round_index}" / "model"))
            train_rows, validation_rows = refresher.apply((train_rows, validation_rows), round_index)
        refresher.record(entry)
    return trainer, resumed, seconds


def _load_previous_round(trainer: Any, out: Path, round_index: int) -> str | None:
    """Where a run restarts at a round with no checkpoint of its own: the weights the previous round saved."""
    previous = out / f"round{round_index - 1}" / "model"
    if round_index == 0 or not previous.is_dir():
        return None
    trainer._load_from_checkpoint(str(previous))  # the Trainer's own loader handles full weights and adapters
    return str(previous)
