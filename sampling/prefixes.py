"""Build prefixes/<method>.jsonl for a dataset (SPEC §3.2).

Shot-based prefixes are drawn only from the person's train pairs. A per-person prefix whose shots include a train pair
would show that pair to its own training row, so each such row gets its own prefix (`pair_id` set) drawn without it.
Retrieval methods (`_bm25`, `_emb`) give every pair its own prefix: the train pairs most similar to its question.
Usage: `python -m sampling.prefixes --data data/my_world --methods no_prefix tag xyw_2s persona_gold`.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from famous_persona.config import parse_config
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import DatasetDir, write_jsonl
from famous_persona.manifest import record_step
from famous_persona.methods import Method, parse_method, prefix_sources
from famous_persona.schema import Pair, Persona, Prefix
from sampling.retrieval import Retriever, rank
from sampling.world_personas import infer_persona, is_synthetic, redescribe

TEMPLATE_MODEL = "template"

ShotWriter = Callable[[Sequence[Pair], random.Random, Persona], str]


@dataclass
class PrefixConfig:
    data: str = field(default="data/synthetic", metadata={"help": "Dataset directory."})
    methods: list[str] = field(
        default_factory=lambda: ["no_prefix", "tag", "name", "xyw_2s", "persona_xy_4s", "persona_gold"],
        metadata={"help": "Prefix methods to build (SPEC §3.2 names)."},
    )


def _rng(*purpose: object) -> random.Random:
    return random.Random("-".join(str(part) for part in purpose))


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


def _shot_writer(method: Method, pairs: Sequence[Pair]) -> ShotWriter:
    if method.family in ("xyw", "xywyl"):
        return lambda shots, rng, person: format_xyw(shots, with_rejected=method.family == "xywyl")
    if not is_synthetic(pairs) or method.model not in (None, TEMPLATE_MODEL):
        raise DataError(
            f"{method.name}: persona inference by a model is not available for this dataset; the templated inference "
            "only works on the synthetic world"
        )
    use_answers = method.family == "persona_xy"
    return lambda shots, rng, person: infer_persona(shots, use_answers, len(person.axes), rng)


def _draw(pool: Sequence[Pair], k: int, rng: random.Random) -> list[Pair]:
    return rng.sample(list(pool), min(k, len(pool)))


def _shot_prefixes(method: Method, people: Sequence[Persona], pairs: Sequence[Pair]) -> list[Prefix]:
    write = _shot_writer(method, pairs)
    train = defaultdict(list)
    for pair in pairs:
        if pair.split == "train":
            train[pair.name].append(pair)
    records = []
    for person in people:
        pool = train[person.name]
        shots = _draw(pool, method.shots, _rng(method.seed, "shots", method.shots, person.name))
        text = write(shots, _rng(method.seed, "text", person.name), person)
        records.append(_record(person.name, None, method, text, shots))
        for own in shots:
            rest = [pair for pair in pool if pair.id != own.id]
            replacement = _draw(rest, method.shots, _rng(method.seed, "shots", method.shots, person.name, own.id))
            text = write(replacement, _rng(method.seed, "text", person.name, own.id), person)
            records.append(_record(person.name, own.id, method, text, replacement))
    return records


def _retrieval_prefixes(method: Method, people: Sequence[Persona], pairs: Sequence[Pair]) -> list[Prefix]:
    """One prefix per pair (train and test): the person's train pairs ranked by similarity to its question."""
    if method.family not in ("xyw", "xywyl"):
        raise DataError(f"{method.name}: persona inference from retrieved shots is not available; use xyw or xywyl")
    retriever = Retriever(method.retrieval, [pair.prompt for pair in pairs])
    records = []
    for person in people:
        own = [pair for pair in pairs if pair.name == person.name]
        pool = [pair for pair in own if pair.split == "train"]
        score = retriever.scorer(pool)
        for pair in own:
            shots = rank(pool, score(pair.prompt), method.shots, pair.id, method.reverse)
            text = format_xyw(shots, with_rejected=method.family == "xywyl")
            records.append(_record(person.name, pair.id, method, text, shots, model=retriever.model))
    return records


def _record(
    name: str, pair_id: str | None, method: Method, text: str, shots: Sequence[Pair] = (), model: str | None = None
) -> Prefix:
    if model is None:
        model = TEMPLATE_MODEL if method.family.startswith("persona") else "none"
    return Prefix(
        name=name,
        pair_id=pair_id,
        method=method.name,
        text=text,
        shots=[p.id for p in shots],
        model=model,
        seed=method.seed,
    )


def _simple_text(method: Method, person: Persona) -> str:
    if method.family == "no_prefix":
        return ""
    if method.family == "tag":
        return f"You are talking with user {person.tag}."
    if method.family == "name":
        return f"Answer the way {person.name} would want it answered."
    if person.description is None or method.model not in (None, TEMPLATE_MODEL):
        raise DataError(f"{method.name}: {person.name} has no written description; a gold persona needs a model")
    if method.seed:
        return redescribe(person.axes, _rng(method.seed, "gold", person.name))
    return person.description


def derangement(names: Sequence[str], rng: random.Random) -> dict[str, str]:
    """Map each person to another person, nobody to themselves (uniform over derangements by rejection)."""
    if len(names) < 2:
        raise DataError("a shuffled prefix needs at least two people")
    while True:
        order = list(names)
        rng.shuffle(order)
        if all(a != b for a, b in zip(names, order, strict=True)):
            return dict(zip(names, order, strict=True))


def build_prefixes(method_name: str, people: Sequence[Persona], pairs: Sequence[Pair]) -> list[Prefix]:
    method = parse_method(method_name)
    if method.retrieval is not None and method.shuffle:
        raise DataError(f"{method_name}: a retrieval prefix belongs to one question, so it cannot be shuffled")
    if method.retrieval is not None:
        return _retrieval_prefixes(method, people, pairs)
    if method.shuffle:
        own = [r for r in build_prefixes(method.base, people, pairs) if r.pair_id is None]
        by_name = {r.name: r for r in own}
        donor = derangement([p.name for p in people], _rng(method.seed, "shuffle", method.base))
        return [by_name[donor[p.name]].model_copy(update={"name": p.name, "method": method_name}) for p in people]
    if method.shots is not None:
        return _shot_prefixes(method, people, pairs)
    return [_record(person.name, None, method, _simple_text(method, person)) for person in people]


def write_prefixes(dataset: DatasetDir, methods: Sequence[str]) -> None:
    methods = list(dict.fromkeys(method for name in methods for method in prefix_sources(name)))  # a+b: a and b
    people, pairs = dataset.personas(), dataset.pairs()
    for method in methods:
        records = build_prefixes(method, people, pairs)
        write_jsonl(dataset.prefix_path(method), records)
        record_step(
            dataset.manifest_path, "prefixes", method, records=len(records), models=sorted({r.model for r in records})
        )


@exit_on_data_error
def main(args: list[str] | None = None) -> None:
    (config,) = parse_config([PrefixConfig], args)
    write_prefixes(DatasetDir(config.data), config.methods)
    print(f"wrote {len(config.methods)} prefix files to {DatasetDir(config.data).root / 'prefixes'}")


if __name__ == "__main__":
    main()
