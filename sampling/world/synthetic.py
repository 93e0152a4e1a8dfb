"""The synthetic persona world (docs/design.md §8): a seeded dataset with known ground truth, labelled synthetic
everywhere.

Every fictional person has a category on every axis. A question belongs to one axis and has one candidate answer per
category, all the same template with different category words, so chosen and rejected are equally long and fluent.
Divergent questions are shared by everyone (same question, different winners); personal ones carry a cue word of the
asker's own category. Usage: `python -m sampling.world.synthetic --out data/my_world --people 20`.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from trl import TrlParser

from famous_persona import world_vocab as vocab
from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import DatasetDir, write_jsonl
from famous_persona.manifest import write_manifest
from famous_persona.personas import name_key
from famous_persona.schema import Pair, Persona
from famous_persona.seeding import seeded
from famous_persona.world_personas import describe

SYNTHETIC_NOTE = "synthetic persona world: fictional people, not FamousPersona data"


@dataclass
class WorldConfig:
    """Knobs of the synthetic world."""

    out: str = field(default="data/synthetic", metadata={"help": "Dataset directory to write."})
    people: int = field(default=20, metadata={"help": "Number of fictional people."})
    personal_per_person: int = field(default=20, metadata={"help": "Personal questions per person (half train)."})
    divergent_per_person: int = field(default=40, metadata={"help": "Divergent questions per person (half train)."})
    divergent_per_axis: int = field(default=8, metadata={"help": "Divergent questions written per axis (half train)."})
    axes: int = field(default=len(vocab.AXES), metadata={"help": "How many of the 11 axes to use (the first N)."})
    axes_per_person: int = field(
        default=0,
        metadata={"help": "Axes each person represents (0 = all); people only get divergent questions on theirs."},
    )
    folds: int = field(default=5, metadata={"help": "Cross-validation folds over people."})
    label_noise: float = field(default=0.05, metadata={"help": "Probability that a pair's labels are swapped."})
    bias_strength: float = field(
        default=0.0,
        metadata={
            "help": "Planted bias: the probability that a person's category on an axis follows their group (majority: "
            "the axis's majority category; minority: one of the others). 0 = independent demographics, as before."
        },
    )
    minority_share: float = field(
        default=0.25, metadata={"help": "With bias_strength > 0, the share of people in the minority group."}
    )
    seed: int = field(default=0, metadata={"help": "Same seed, byte-identical files."})


def _check(config: WorldConfig) -> None:
    problems = []
    if not 1 <= config.axes <= len(vocab.AXES):
        problems.append(f"axes must be in 1..{len(vocab.AXES)}")
    if config.people < config.folds or config.folds < 2:
        problems.append("need at least 2 folds and one person per fold")
    if config.people > len(vocab.FIRST_NAMES) * len(vocab.LAST_NAMES):
        problems.append("too many people for the name lists")
    if not 0 <= config.axes_per_person <= config.axes:
        problems.append("axes_per_person must be in 0..axes")
    own_axes = config.axes_per_person or config.axes
    if config.divergent_per_person // 2 > own_axes * (config.divergent_per_axis // 2):
        problems.append("divergent_per_person/2 exceeds the divergent questions per split")
    if not 0 <= config.label_noise < 0.5:
        problems.append("label_noise must be in [0, 0.5)")
    if not 0 <= config.bias_strength <= 1:
        problems.append("bias_strength must be in [0, 1]")
    if not 0 < config.minority_share < 1:
        problems.append("minority_share must be in (0, 1)")
    if problems:
        raise DataError("invalid world config: " + "; ".join(problems))


def majority_categories(config: WorldConfig, axes: tuple[vocab.Axis, ...]) -> dict[str, vocab.Category]:
    """The category the majority group mostly shares on each axis, seeded per axis."""
    return {axis.name: seeded(config.seed, "majority", axis.name).choice(axis.categories) for axis in axes}


def minority_members(config: WorldConfig) -> set[int]:
    """Indices of the minority group: exactly round(minority_share * people) people, seeded."""
    size = round(config.minority_share * config.people)
    return set(seeded(config.seed, "groups").sample(range(config.people), size))


def _planted_category(
    axis: vocab.Axis, majority: vocab.Category, minority: bool, strength: float, rng: random.Random
) -> vocab.Category:
    """With probability `strength` the group decides (majority: its category; minority: one of the others), else the
    category is uniform as in the independent world."""
    if rng.random() >= strength:
        return rng.choice(axis.categories)
    return rng.choice([c for c in axis.categories if c is not majority]) if minority else majority


def _people(config: WorldConfig, axes: tuple[vocab.Axis, ...]) -> list[Persona]:
    rng = seeded(config.seed, "people")
    planted = config.bias_strength > 0
    majority, minority = majority_categories(config, axes), minority_members(config)
    full_names = [f"{first} {last}" for first in vocab.FIRST_NAMES for last in vocab.LAST_NAMES]
    names = rng.sample(full_names, config.people)
    folds = [i % config.folds for i in range(config.people)]
    rng.shuffle(folds)
    people = []
    for index, (name, fold) in enumerate(zip(names, folds, strict=True)):
        own = (
            sorted(rng.sample(range(len(axes)), config.axes_per_person)) if config.axes_per_person else range(len(axes))
        )
        if planted:
            tie = seeded(config.seed, "planted", name)
            categories = {
                axes[a].name: _planted_category(
                    axes[a], majority[axes[a].name], index in minority, config.bias_strength, tie
                )
                for a in own
            }
        else:
            categories = {axes[a].name: rng.choice(axes[a].categories) for a in own}
        demographics = _demographics(rng, categories)
        if planted:
            demographics["group"] = "minority" if index in minority else "majority"
        people.append(
            Persona(
                name=name,
                key=name_key(name),
                axes={axis: category.key for axis, category in categories.items()},
                fold=fold,
                tag=f"user_{index:03d}",
                demographics=demographics,
                description=describe(categories, seeded(config.seed, "gold", name)),
            )
        )
    return people


def _demographics(rng: random.Random, categories: dict[str, vocab.Category]) -> dict:
    """Synthetic demographics, partly drawn from the person's categories so the bias analysis has structure."""
    age = categories.get("age")
    birth_year = {"teen": 2009, "midlife": 1972, "elderly": 1942}.get(age.key if age else "", 1980) + rng.randrange(6)
    gender = categories.get("gender")
    return {
        "race": rng.choice(vocab.RACES),
        "birth_year": birth_year,
        "gender": gender.key if gender else rng.choice(("woman", "man")),
        "sexual_preference": rng.choice(vocab.ORIENTATIONS),
        "economic_status": rng.choice(vocab.ECONOMIC),
        "religion": categories["religion"].key if "religion" in categories else None,
        "political_affiliation": categories["politics"].key if "politics" in categories else None,
        "education_level": categories["education level"].key if "education level" in categories else None,
    }


@dataclass(frozen=True)
class Question:
    id: str
    axis: vocab.Axis
    text: str
    template: str
    slots: tuple[int, int, int]

    def answer(self, category: vocab.Category) -> str:
        return self.template.format(*(category.answers[i] for i in self.slots))


def _question(qid: str, axis: vocab.Axis, text: str, rng: random.Random) -> Question:
    slots = tuple(rng.sample(range(4), 3))
    return Question(qid, axis, text, rng.choice(vocab.ANSWER_TEMPLATES), slots)  # type: ignore[arg-type]


def _divergent_pool(config: WorldConfig, axes: tuple[vocab.Axis, ...]) -> dict[str, list[Question]]:
    """Per split, the divergent questions; a question is in one split for everyone."""
    pool: dict[str, list[Question]] = {"train": [], "test": []}
    for a, axis in enumerate(axes):
        rng = seeded(config.seed, "divergent", axis.name)
        texts = [frame.format(topic=topic) for topic in axis.topics for frame in vocab.QUESTION_FRAMES]
        chosen = rng.sample(texts, min(config.divergent_per_axis, len(texts)))
        half = len(chosen) // 2
        for q, text in enumerate(chosen):
            pool["train" if q < half else "test"].append(_question(f"d{a:02d}q{q:02d}", axis, text, rng))
    return pool


def _personal(config: WorldConfig, person: Persona, axes: tuple[vocab.Axis, ...]) -> list[Question]:
    rng = seeded(config.seed, "personal", person.name)
    texts: set[str] = set()
    questions = []
    own_axes = [axis for axis in axes if axis.name in person.axes]
    while len(questions) < config.personal_per_person:
        axis = rng.choice(own_axes)
        category = next(c for c in axis.categories if c.key == person.axes[axis.name])
        frame = rng.choice(vocab.PERSONAL_FRAMES)
        text = frame.format(cue=rng.choice(category.cues), topic=rng.choice(axis.topics))
        if text not in texts:
            texts.add(text)
            questions.append(_question(f"p{len(questions):03d}", axis, text, rng))
    return questions


def _pair(config: WorldConfig, person: Persona, question: Question, kind: str, split: str) -> Pair:
    rng = seeded(config.seed, "pair", person.name, question.id)
    own = next(c for c in question.axis.categories if c.key == person.axes[question.axis.name])
    other = rng.choice([c for c in question.axis.categories if c is not own])
    flipped = rng.random() < config.label_noise
    chosen, rejected = (other, own) if flipped else (own, other)
    return Pair(
        id=f"{person.key}-{question.id}",
        name=person.name,
        prompt=question.text,
        chosen=question.answer(chosen),
        rejected=question.answer(rejected),
        question_type=kind,
        axis=question.axis.name if kind == "divergent" else None,
        split=split,
        meta={
            "synthetic": True,
            "world_axis": question.axis.name,
            "question_id": question.id,
            "person_category": own.key,
            "chosen_category": chosen.key,
            "rejected_category": rejected.key,
            "flipped": flipped,
        },
    )


def _pairs(config: WorldConfig, people: list[Persona], axes: tuple[vocab.Axis, ...]) -> list[Pair]:
    pool = _divergent_pool(config, axes)
    pairs = []
    for person in people:
        personal = _personal(config, person, axes)
        half = len(personal) // 2
        pairs += [_pair(config, person, q, "personal", "train" if i < half else "test") for i, q in enumerate(personal)]
        rng = seeded(config.seed, "assign", person.name)
        for split in ("train", "test"):
            own_pool = [question for question in pool[split] if question.axis.name in person.axes]
            for question in rng.sample(own_pool, config.divergent_per_person // 2):
                pairs.append(_pair(config, person, question, "divergent", split))
    return pairs


def _planted_record(config: WorldConfig, axes: tuple[vocab.Axis, ...], people: list[Persona]) -> dict:
    """What the manifest says about the planted bias: the grouping attribute, group sizes and majority categories."""
    sizes = {group: sum(p.demographics["group"] == group for p in people) for group in ("majority", "minority")}
    return {
        "attribute": "group",
        "strength": config.bias_strength,
        "minority_share": config.minority_share,
        "group_sizes": sizes,
        "majority_categories": {axis: category.key for axis, category in majority_categories(config, axes).items()},
    }


def make_world(config: WorldConfig) -> DatasetDir:
    """Write personas.jsonl, pairs.jsonl and manifest.json of a new synthetic world."""
    _check(config)
    axes = vocab.AXES[: config.axes]
    people = _people(config, axes)
    pairs = _pairs(config, people, axes)
    dataset = DatasetDir(config.out)
    write_jsonl(dataset.personas_path, people)
    write_jsonl(dataset.pairs_path, pairs)
    flipped = sum(bool(pair.meta and pair.meta["flipped"]) for pair in pairs)
    extra = {"planted_bias": _planted_record(config, axes, people)} if config.bias_strength > 0 else {}
    write_manifest(
        dataset.manifest_path,
        stage="sampling.world.synthetic",
        config=asdict(config),
        note=SYNTHETIC_NOTE,
        counts={"people": len(people), "pairs": len(pairs), "flipped": flipped},
        **extra,
    )
    return dataset


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("world", [WorldConfig], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (config,) = parse_config(parser or make_parser(), args)
    dataset = make_world(config)
    print(f"wrote {SYNTHETIC_NOTE} to {Path(dataset.root)}")


if __name__ == "__main__":
    main()
