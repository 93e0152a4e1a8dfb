"""Build prefixes/<method>.jsonl for a dataset (docs/design.md §5).

Shot-based prefixes are drawn only from the person's train pairs. A per-person prefix whose shots include a train pair
would show that pair to its own training row, so each such row gets its own prefix (`pair_id` set) drawn without it.
Retrieval methods (`_bm25`, `_emb`) give every pair its own prefix: the train pairs most similar to its question, or
a persona inferred from them. `persona_*_{model}` methods ask the named inference model (sampling.prefixes.inference)
in the words of famous_persona/wording.yaml or of `--wording FILE`, whose digest the dataset manifest records;
a released method (`persona_gold_gpt4-released`) is the file the import wrote, kept as it is and never rebuilt.
With `--max_prefix_tokens`, every prefix is fitted to a token budget (sampling.prefixes.budget).
Usage: `python -m sampling.prefixes.build --data data/my_world --methods no_prefix tag xyw_2s persona_gold`.
"""

from __future__ import annotations

import functools
import logging
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from trl import TrlParser

from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.families import TEMPLATE_MODEL, Draft, Text, family
from famous_persona.io import DatasetDir, write_jsonl
from famous_persona.manifest import record_step
from famous_persona.methods import RELEASED, Method, parse_method, prefix_sources
from famous_persona.personas import require_train_pairs
from famous_persona.schema import Pair, Persona, Prefix
from famous_persona.seeding import seeded
from famous_persona.wording import Wording, load_wording
from famous_persona.world_vocab import is_synthetic
from sampling.prefixes.budget import TokenBudget
from sampling.prefixes.inference import DEFAULT_DIR, PersonaInference
from sampling.prefixes.retrieval import Retriever, rank

logger = logging.getLogger(__name__)


@dataclass
class PrefixConfig:
    data: str = field(default="data/synthetic", metadata={"help": "Dataset directory."})
    methods: list[str] = field(
        default_factory=lambda: ["no_prefix", "tag", "name", "xyw_2s", "persona_xy_4s", "persona_gold"],
        metadata={"help": "Prefix methods to build (docs/design.md §5 names)."},
    )
    inference_models: str = field(
        default=DEFAULT_DIR, metadata={"help": "Folder of <model>.yaml files for persona_*_{model} methods."}
    )
    inference_set: list[str] = field(
        default_factory=list,
        metadata={"help": "Overrides of every inference-model YAML as key=value, e.g. concurrency=4 max_tokens=256."},
    )
    max_prefix_tokens: int = field(default=0, metadata={"help": "Token budget per prefix (0 = no budget)."})
    budget_tokenizer: str | None = field(default=None, metadata={"help": "Tokenizer that counts the budget."})
    wording: str | None = field(
        default=None,
        metadata={"help": "YAML whose persona_* fields replace the inference request (famous_persona/wording.yaml)."},
    )


Writer = Callable[[Sequence[Draft]], list[str]]
Reader = Callable[[str], list[Prefix]]
"""Method name → its prefixes as written earlier: how a released method (and a shuffle of one) gets its texts."""


def _uses_model(method: Method) -> bool:
    return method.persona and method.model not in (None, TEMPLATE_MODEL)


def _template_writer(method: Method, pairs: Sequence[Pair]) -> Writer:
    """Texts written without a model: the family's own text, or else the built-in `template` inference backend,
    which knows the synthetic world only."""
    kin = family(method.family)
    write = kin.text
    if write is None:
        if kin.template is None or not is_synthetic(pairs):
            problem = "only works on the synthetic world" if kin.template else f"does not write {kin.name}"
            raise DataError(
                f"{method.name}: the templated persona inference {problem}; name an inference model instead, "
                f"e.g. {method.name.replace(f'_{method.shots}s', f'_{method.shots}s_gpt4', 1)}"
            )
        write = kin.template
    return lambda drafts: [_text(method, write, d) for d in drafts]


def _text(method: Method, write: Text, draft: Draft) -> str:
    try:
        return write(method.seed, draft)
    except DataError as error:
        raise DataError(f"{method.name}: {error}") from None


def _model_writer(method: Method, inference: PersonaInference) -> Writer:
    """Texts from the inference model the method names; the request id is the draft's label."""

    def write(drafts: Sequence[Draft]) -> list[str]:
        ask = family(method.family).request
        requests = [(f"{method.name}|{d.label}", ask(d.person.name, d.shots, inference.wording)) for d in drafts]
        texts, truncated = inference.infer(method.model, requests, method.seed)
        if truncated:
            logger.warning("%s: %d persona(s) reached the token limit and were kept as cut", method.name, truncated)
        return [texts[rid] for rid, _ in requests]

    return write


def _draw(pool: Sequence[Pair], k: int, rng: random.Random) -> tuple[Pair, ...]:
    return tuple(rng.sample(list(pool), k))


def _train_pools(pairs: Sequence[Pair]) -> dict[str, list[Pair]]:
    pools: dict[str, list[Pair]] = defaultdict(list)
    for pair in pairs:
        if pair.split == "train":
            pools[pair.name].append(pair)
    return pools


def _require_shots(method: Method, people: Sequence[Persona], pools: dict[str, list[Pair]]) -> None:
    """k shots for everyone, also for a train row whose own pair is left out: k + 1 train pairs per person."""
    k = method.shots or 0
    counts = {person.name: len(pools[person.name]) for person in people}
    require_train_pairs(method.name, counts, k + 1, f"{k} shots, and {k} others for a row whose own pair is a shot")


def _shot_drafts(method: Method, people: Sequence[Persona], pairs: Sequence[Pair]) -> list[Draft]:
    """Each person's drawn shots, plus a redraw without it for every train pair among them (no row sees itself)."""
    pools = _train_pools(pairs)
    _require_shots(method, people, pools)
    drafts = []
    for person in people:
        pool = pools[person.name]
        shots = _draw(pool, method.shots, seeded(method.seed, "shots", method.shots, person.name))
        drafts.append(Draft(person, None, shots))
        for own in shots:
            rest = [pair for pair in pool if pair.id != own.id]
            rng = seeded(method.seed, "shots", method.shots, person.name, own.id)
            drafts.append(Draft(person, own.id, _draw(rest, method.shots, rng)))
    return drafts


def _retrieval_drafts(method: Method, people: Sequence[Persona], pairs: Sequence[Pair]) -> tuple[list[Draft], str]:
    """One draft per pair (train and test): the person's train pairs ranked by similarity to its question."""
    retriever = Retriever(method.retrieval, [pair.prompt for pair in pairs])
    pools = _train_pools(pairs)
    _require_shots(method, people, pools)
    drafts = []
    for person in people:
        pool = pools[person.name]
        score = retriever.scorer(pool)
        for pair in (p for p in pairs if p.name == person.name):
            shots = rank(pool, score(pair.prompt), method.shots, pair.id, method.reverse)
            drafts.append(Draft(person, pair.id, tuple(shots)))
    return drafts, retriever.model


def _author(method: Method, retriever: str | None, inference: PersonaInference | None) -> str:
    """Who wrote the text (the Prefix `model` field)."""
    if _uses_model(method):
        return inference.model(method.model).model
    if method.persona:
        return TEMPLATE_MODEL
    return retriever or "none"


def _fit(method: Method, draft: Draft, text: str, write: Writer, budget: TokenBudget) -> tuple[str, Sequence[Pair]]:
    """Shot lists lose whole shots before being cut; a persona keeps the shots it was inferred from and is cut."""
    if not family(method.family).shot_list:
        return budget.fit(f"{method.name}|{draft.label}", text, [], None)[0], draft.shots

    def render(kept: Sequence[Pair]) -> str:
        return write([Draft(draft.person, draft.pair_id, tuple(kept))])[0]

    return budget.fit(f"{method.name}|{draft.label}", text, draft.shots, render)


def _records(
    method: Method, drafts: Sequence[Draft], write: Writer, author: str, budget: TokenBudget | None
) -> list[Prefix]:
    records = []
    for draft, text in zip(drafts, write(drafts), strict=True):
        shots: Sequence[Pair] = draft.shots
        if budget is not None:
            text, shots = _fit(method, draft, text, write, budget)
        records.append(
            Prefix(
                name=draft.person.name,
                pair_id=draft.pair_id,
                method=method.name,
                text=text,
                shots=[p.id for p in shots],
                model=author,
                seed=method.seed,
            )
        )
    return records


def derangement(names: Sequence[str], rng: random.Random) -> dict[str, str]:
    """Map each person to another person, nobody to themselves (uniform over derangements by rejection)."""
    if len(names) < 2:
        raise DataError("a shuffled prefix needs at least two people")
    while True:
        order = list(names)
        rng.shuffle(order)
        if all(a != b for a, b in zip(names, order, strict=True)):
            return dict(zip(names, order, strict=True))


def _released(method_name: str, read: Reader | None) -> list[Prefix]:
    """A released method's texts, which only the import writes."""
    if read is None:
        raise DataError(f"{method_name}: its texts come with the imported data (famous-persona hub-import)")
    return read(method_name)


def build_prefixes(
    method_name: str,
    people: Sequence[Persona],
    pairs: Sequence[Pair],
    inference: PersonaInference | None = None,
    budget: TokenBudget | None = None,
    read: Reader | None = None,
) -> list[Prefix]:
    method = parse_method(method_name)
    if method.retrieval is not None and method.shuffle:
        raise DataError(f"{method_name}: a retrieval prefix belongs to one question, so it cannot be shuffled")
    if method.shuffle:
        own = [r for r in build_prefixes(method.base, people, pairs, inference, budget, read) if r.pair_id is None]
        by_name = {r.name: r for r in own}
        donor = derangement([p.name for p in people], seeded(method.seed, "shuffle", method.base))
        return [by_name[donor[p.name]].model_copy(update={"name": p.name, "method": method_name}) for p in people]
    if method.released:
        return _released(method_name, read)
    if _uses_model(method) and inference is None:
        raise DataError(f"{method_name}: persona inference by a model needs an inference-models folder")
    retriever = None
    if method.retrieval is not None:
        drafts, retriever = _retrieval_drafts(method, people, pairs)
    elif method.shots is not None:
        drafts = _shot_drafts(method, people, pairs)
    else:
        drafts = [Draft(person, None) for person in people]
    write = _model_writer(method, inference) if _uses_model(method) else _template_writer(method, pairs)
    return _records(method, drafts, write, _author(method, retriever, inference), budget)


def write_prefixes(
    dataset: DatasetDir,
    methods: Sequence[str],
    inference_models: Path | str = DEFAULT_DIR,
    budget: TokenBudget | None = None,
    inference_set: Sequence[str] = (),
    wording: Wording | None = None,
) -> None:
    """Build and write each method's prefix file (a training set `a+b`: those of a and b); model replies are cached
    under <data>/cache. A method an inference model wrote records the digest of the request's wording."""
    methods = list(dict.fromkeys(method for name in methods for method in prefix_sources(name)))
    people, pairs = dataset.personas(), dataset.pairs()
    if not pairs:
        raise DataError(f"{dataset.pairs_path}: no pairs to build prefixes from; the prefix files are left as they are")
    cache = dataset.root / "cache" / "persona_inference.sqlite"
    inference = PersonaInference(inference_models, cache, overrides(inference_set), wording)
    read = functools.partial(read_released, dataset)
    for method in methods:
        parsed = parse_method(method)
        if parsed.released and not parsed.shuffle:
            read(method)
            logger.info("%s: kept as imported", method)
            continue
        records = build_prefixes(method, people, pairs, inference, budget, read)
        write_jsonl(dataset.prefix_path(method), records)
        extra = {"budget": budget.report()} if budget is not None else {}
        if _uses_model(parsed) and not parsed.released:
            extra["wording"] = inference.wording.record("persona")
        models = sorted({r.model for r in records})
        record_step(dataset.manifest_path, "prefixes", method, records=len(records), models=models, **extra)
    if inference.tally.sent or inference.tally.cached:
        record_step(dataset.manifest_path, "prefixes", "persona_inference", tally=inference.tally.as_dict())


def read_released(dataset: DatasetDir, method: str) -> list[Prefix]:
    """A released method's prefixes, one per person, as the import wrote them."""
    path = dataset.prefix_path(method)
    if not path.is_file():
        column = method.replace(f"-{RELEASED}", "", 1)
        raise DataError(
            f"{path}: not found; {method} holds the column {column} of the released people file, which "
            "famous-persona hub-import writes when the release has it"
        )
    return dataset.prefixes(method)


def overrides(settings: Sequence[str]) -> list[str]:
    """`key=value` settings as the `--key value` arguments of the inference-model parser."""
    bad = [item for item in settings if "=" not in item]
    if bad:
        raise DataError(f"--inference_set takes key=value items, got {bad}")
    return [part for item in settings for part in (f"--{item.partition('=')[0]}", item.partition("=")[2])]


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("prefixes", [PrefixConfig], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (config,) = parse_config(parser or make_parser(), args)
    budget = None
    if config.max_prefix_tokens:
        if not config.budget_tokenizer:
            raise DataError("--max_prefix_tokens needs --budget_tokenizer (the model's tokenizer)")
        budget = TokenBudget(config.budget_tokenizer, config.max_prefix_tokens)
    wording = load_wording(config.wording)
    dataset = DatasetDir(config.data)
    write_prefixes(dataset, config.methods, config.inference_models, budget, config.inference_set, wording)
    print(f"wrote {len(config.methods)} prefix files to {dataset.root / 'prefixes'}")


if __name__ == "__main__":
    main()
