"""Generate a response to every test question of one test prefix, so behaviour can be judged beside reward accuracy.

The model sees exactly the prompt that training and scoring build (`famous_persona.chat`), never the test pair's
answers; the model, its base, the system turn, the prompt budget, the precision and the device are settled from the
trained run as scoring settles them (`famous_persona.eval_target`). Writes <out>/generations.jsonl (id, name,
question_type, seen, fold, response, tokens, finish_reason) and <out>/manifest.json (the run's identity, decoding
settings and seed) into a folder of its own, <run>/generate/<test_method>. Each person is a part of the output
(evaluation/shards.py), written to <out>/people/ with its settings as soon as it is done, so a rerun with the same
settings generates only the people still missing; `--num_shards N --shard_index i` split the people like scoring
does, and whoever finishes the last person merges the parts, refusing any made with other settings.
Usage: `python -m evaluation.generate --model dump/demo/tiny/dpo/persona_gold/fold0/model --data DIR --test_method
persona_gold --fold 0 --out dump/demo/tiny/dpo/persona_gold/fold0/generate/persona_gold --train_method persona_gold`.
"""

from __future__ import annotations

import logging
import shutil
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trl import TrlParser

from evaluation import shards
from famous_persona import chat, progress
from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.decoding import generate
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.eval_target import EvalArguments, load_target, settle
from famous_persona.io import DatasetDir, write_jsonl
from famous_persona.manifest import output_manifest, skip_finished, write_manifest
from famous_persona.models import process_state
from famous_persona.personas import name_key, split_people
from famous_persona.schema import DpoRecord

logger = logging.getLogger(__name__)

STAGE = "evaluation.generate"
GENERATIONS = "generations.jsonl"
PART_OWN = ("shard_index", "num_shards", "force", "people", "device")
"""Options a person's part does not depend on: who else is in the shard, whose questions are wanted, where it ran."""


@dataclass(kw_only=True)
class GenerateArguments(EvalArguments):
    """The evaluation target and test prefix (EvalArguments), and how responses are decoded."""

    max_new_tokens: int = field(default=48, metadata={"help": "Longest response in tokens."})
    temperature: float = field(default=0.0, metadata={"help": "0 decodes greedily; above 0 samples."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus mass when sampling."})
    seed: int = field(default=0, metadata={"help": "Sampling seed; each person's batches derive theirs from it."})
    people: str = field(default="all", metadata={"help": "all, seen or unseen: whose test questions to answer."})


def prompt_chat(record: DpoRecord, tokenizer: Any, args: GenerateArguments) -> chat.Messages:
    """The prompt messages scoring would use for this record (cut to the same budget); the answers stay out."""
    return chat.conversation(record, tokenizer, args.max_length, args.system_prompt).prompt


def _person_seed(seed: int, name: str, batch: int) -> int:
    """A seed per person and batch, so sampled responses do not depend on how people are sharded."""
    return (seed + zlib.crc32(f"{name}/{batch}".encode())) % 2**31


def _person_path(out: Path, name: str) -> Path:
    return out / "people" / f"{name_key(name)}.jsonl"


def _person_rows(model, tokenizer, records: list[DpoRecord], args: GenerateArguments, seen: bool) -> list[dict]:
    rows = []
    for batch, start in enumerate(range(0, len(records), args.batch_size)):
        part = records[start : start + args.batch_size]
        chats = [prompt_chat(record, tokenizer, args) for record in part]
        seed = _person_seed(args.seed, part[0].name, batch)
        replies = generate(model, tokenizer, chats, args.max_new_tokens, args.temperature, args.top_p, seed)
        for record, reply in zip(part, replies, strict=True):
            rows.append(
                {
                    "id": record.id,
                    "name": record.name,
                    "question_type": record.question_type,
                    "seen": seen,
                    "fold": args.fold,
                    "response": reply.text,
                    "tokens": reply.completion_tokens,
                    "finish_reason": "stop" if reply.finished else "length",
                }
            )
    return rows


def _by_person(records: list[DpoRecord]) -> dict[str, list[DpoRecord]]:
    people: dict[str, list[DpoRecord]] = {}
    for record in records:
        people.setdefault(record.name, []).append(record)
    return people


def _wanted(records: list[DpoRecord], unseen: set[str], people: str) -> list[DpoRecord]:
    if people not in ("all", "seen", "unseen"):
        raise DataError(f"people must be all, seen or unseen, got {people!r}")
    if people == "all":
        return records
    return [record for record in records if (record.name in unseen) == (people == "unseen")]


def generate_responses(args: GenerateArguments) -> Path | None:
    """Generate this process's people that are not yet written; whoever completes the set writes the outputs."""
    out = Path(args.out)
    if skip_finished(out, args.force, STAGE):
        return None
    args, target = settle(args)
    state = process_state()
    if args.num_shards == 1 and state.num_processes > 1:
        index, count = state.process_index, state.num_processes
    else:
        index, count = shards.checked_shard(args.shard_index, args.num_shards)
    dataset = DatasetDir(args.data)
    unseen = set(split_people(dataset.personas(), args.fold, args.fold_scheme, args.train_method == "none")[1])
    records = _wanted(dataset.dpo(args.test_method, "test"), unseen, args.people)
    settings = shards.part_settings(args, PART_OWN, dataset.dpo_path(args.test_method, "test"))
    people = _by_person(shards.select(records, index, count))
    if args.force:
        shards.clear([_person_path(out, name) for name in people])
    todo = {name: rows for name, rows in people.items() if not _person_path(out, name).is_file()}
    for name in people.keys() - todo.keys():
        shards.check_settings(shards.settings_path(_person_path(out, name)), settings)
    logger.info("%d of this shard's %d people left to generate", len(todo), len(people))
    if todo:
        tokenizer, model = load_target(target)
        with progress.bar(len(people), "responses", unit="person", initial=len(people) - len(todo)) as shown:
            for name, mine in todo.items():
                rows = _person_rows(model, tokenizer, mine, args, name not in unseen)
                shards.write_part(_person_path(out, name), rows, settings)
                shown.update()
    rows = shards.read_parts([_person_path(out, name) for name in _by_person(records)], settings)
    if rows is None:
        logger.info("shard %d of %d done; the last shard to finish writes %s", index, count, GENERATIONS)
        return None
    write_jsonl(out / GENERATIONS, shards.merge_rows(rows, records, out / "people"))
    decoding = {"greedy": args.temperature <= 0, "temperature": args.temperature, "top_p": args.top_p}
    write_manifest(output_manifest(out, STAGE), stage=STAGE, config=asdict(args), status="finished", **decoding)
    shutil.rmtree(out / "people", ignore_errors=True)
    return out / GENERATIONS


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("generate-responses", [GenerateArguments], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (gen_args,) = parse_config(parser or make_parser(), args)
    path = generate_responses(gen_args)
    if path is not None:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
