"""Which sentences of a prefix move the model's preference? ContextCite-style attribution (docs/design.md §12).

For each test pair: split the prefix into sentences, score the chosen-minus-rejected margin (ref_free_avg) under random
sentence ablations (each sentence kept with probability 1/2), fit a LASSO from the keep-mask to the margin, and read one
weight per sentence. The pairs explained are the held-out people's of the model's fold (everyone's for a model no run
trained), dealt a pair per person in turn; the model, its system turn and its maximum length are the trained run's
(`famous_persona.eval_target`). Each sentence is also typed by what it shares with the pair (more words with the
chosen answer, with the rejected one, with the question only, or nothing), so correctly and wrongly ranked pairs can
be contrasted: which kind of sentence carries the win, and which the loss. With gold personas (`description`), the
top sentence's word overlap with the gold persona is compared to the average sentence's. Usage:
`python -m analysis.attribution --model dump/demo/tiny/dpo/persona_gold/fold0/model --data data/synthetic_demo
--test_method persona_gold --max_pairs 32`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.linear_model import Lasso
from trl import TrlParser

from analysis.margins import model_scorer
from famous_persona import progress
from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.eval_target import EvalTarget, TargetArguments, settle
from famous_persona.io import DatasetDir, write_json, write_jsonl
from famous_persona.personas import split_people
from famous_persona.schema import DpoRecord

Scorer = Callable[[Sequence[str]], np.ndarray]
_SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?]+|\n|$)\s*")
_WORD = re.compile(r"[a-z]{4,}")
KINDS = {
    "chosen": "shares more words with the chosen answer than with the rejected one",
    "rejected": "shares more words with the rejected answer than with the chosen one",
    "question": "as close to both answers, and shares words with the question",
    "unrelated": "as close to both answers, and shares no word with the question",
}
"""What a prefix sentence has to do with the pair it is explained on, the unit of the success-vs-failure contrast."""
PEOPLE = ("unseen", "seen", "all")


@dataclass(kw_only=True)
class AttributionArguments(TargetArguments):
    """The explained model (TargetArguments: read from its trained run unless given), whose pairs, and the fit."""

    model: str = field(default="dump/demo/tiny/dpo/persona_gold/fold0/model", metadata={"help": "Trained model dir."})
    data: str = field(default="data/synthetic_demo", metadata={"help": "Dataset with prefixes/ and dpo/<method>/."})
    test_method: str = field(default="persona_gold", metadata={"help": "Prefix method whose sentences are ablated."})
    out: str | None = field(default=None, metadata={"help": "Output dir; default <model>/../attribution/<method>."})
    split: str = field(default="test", metadata={"help": "Which baked split to explain."})
    people: str = field(
        default="unseen",
        metadata={
            "help": "unseen: the people the model's fold held out (everyone for a model no run trained); seen: the "
            "ones it trained on; all."
        },
    )
    max_pairs: int = field(
        default=32, metadata={"help": "Explain at most this many pairs, dealt one per person in turn."}
    )
    n_ablations: int = field(default=64, metadata={"help": "Random sentence ablations per pair."})
    lasso_alpha: float = field(default=0.01, metadata={"help": "L1 strength, in units of the margins' spread."})
    batch_size: int = field(default=16, metadata={"help": "Sequences per forward pass."})
    seed: int = field(default=0, metadata={"help": "Seed of the ablation masks."})


def split_sentences(text: str) -> list[str]:
    """Sentences (and lines) with their trailing whitespace, so that joining any subset keeps the layout."""
    pieces = [match.group(0) for match in _SENTENCE.finditer(text) if match.group(0)]
    sentences: list[str] = []
    for piece in pieces:
        if piece.strip() or not sentences:
            sentences.append(piece)
        else:
            sentences[-1] += piece
    return [s for s in sentences if s.strip()] if any(s.strip() for s in sentences) else []


def ablation_masks(n_sentences: int, n_ablations: int, rng: np.random.Generator) -> np.ndarray:
    """Keep-masks (n_ablations × n_sentences), each sentence kept with probability 1/2."""
    return rng.random((n_ablations, n_sentences)) < 0.5


def fit_weights(masks: np.ndarray, margins: np.ndarray, alpha: float) -> tuple[np.ndarray, float, float]:
    """Sparse linear surrogate margin ≈ intercept + masks @ weights; returns (weights, intercept, R²)."""
    spread = float(np.std(margins))
    if spread == 0:
        return np.zeros(masks.shape[1]), float(margins.mean()), 0.0
    lasso = Lasso(alpha=alpha * spread, max_iter=10_000).fit(masks.astype(float), margins)
    return lasso.coef_.copy(), float(lasso.intercept_), float(lasso.score(masks.astype(float), margins))


def attribute(
    sentences: Sequence[str], scorer: Scorer, n_ablations: int, alpha: float, rng: np.random.Generator
) -> tuple[np.ndarray, float, float, float]:
    """Weights of one prefix's sentences, the full-prefix margin and the surrogate's R²."""
    masks = ablation_masks(len(sentences), n_ablations, rng)
    texts = ["".join(s for s, keep in zip(sentences, mask, strict=True) if keep) for mask in masks]
    scores = scorer(["".join(sentences), *texts])
    weights, intercept, r2 = fit_weights(masks, scores[1:], alpha)
    return weights, float(scores[0]), intercept, r2


def words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def gold_overlap(sentence: str, gold: str) -> float:
    """Share of a sentence's content words that the gold persona also uses."""
    own = words(sentence)
    return len(own & words(gold)) / len(own) if own else 0.0


def sentence_kind(sentence: str, record: DpoRecord, question: str) -> str:
    """The KINDS entry of a sentence for one pair: which answer it shares more content words with, else whether it
    touches the question."""
    own = words(sentence)
    to_chosen = len(own & words(record.chosen[-1].content))
    to_rejected = len(own & words(record.rejected[-1].content))
    if to_chosen != to_rejected:
        return "chosen" if to_chosen > to_rejected else "rejected"
    return "question" if own & words(question) else "unrelated"


def explain_pair(
    record: DpoRecord,
    sentences: list[str],
    scorer: Scorer,
    gold: str | None,
    args: AttributionArguments,
    rng: np.random.Generator,
) -> dict:
    """One output row: the sentences, their weights and kinds, which one leads, and how it overlaps the gold
    persona."""
    weights, full, intercept, r2 = attribute(sentences, scorer, args.n_ablations, args.lasso_alpha, rng)
    top = int(np.argmax(weights))
    magnitude = float(np.abs(weights).sum())
    question = record.prompt[-1].content.split("".join(sentences), 1)[-1]
    row = {
        "id": record.id,
        "full_margin": full,
        "correct": full > 0,
        "sentences": sentences,
        "weights": weights.tolist(),
        "kinds": [sentence_kind(sentence, record, question) for sentence in sentences],
        "intercept": intercept,
        "r2": r2,
        "top": top,
        "top_share": float(abs(weights[top]) / magnitude) if magnitude else 0.0,
    }
    if gold is not None:
        row["top_gold_overlap"] = gold_overlap(sentences[top], gold)
        row["mean_gold_overlap"] = float(np.mean([gold_overlap(s, gold) for s in sentences]))
    return row


def contrast(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per sentence kind, over the given pairs: the mean summed weight of its sentences (how much of the margin
    they carry) and the share of pairs whose top sentence is of that kind."""
    table = {}
    for kind in KINDS:
        carried = [sum(w for w, k in zip(r["weights"], r["kinds"], strict=True) if k == kind) for r in rows]
        leads = [r["kinds"][r["top"]] == kind for r in rows]
        table[kind] = {"weight": float(np.mean(carried)), "top": float(np.mean(leads))}
    return table


def summarise(rows: list[dict]) -> dict:
    """Means per outcome (correct / wrong): margin, fit quality, concentration and gold overlap of the top sentence,
    and the contrast of sentence kinds."""
    summary = {}
    for label, flag in (("correct", True), ("wrong", False)):
        part = [row for row in rows if row["correct"] == flag]
        keys = ["full_margin", "r2", "top_share", "top_gold_overlap", "mean_gold_overlap"]
        means = {k: float(np.mean([r[k] for r in part])) for k in keys if part and k in part[0]}
        summary[label] = {"pairs": len(part), **means, **({"kinds": contrast(part)} if part else {})}
    return summary


def explained_people(dataset: DatasetDir, target: EvalTarget, people: str) -> set[str]:
    """Whose pairs are explained: the fold's held-out or training people as the trained run split them; a model
    no run trained has seen nobody."""
    if people not in PEOPLE:
        raise DataError(f"people must be one of {list(PEOPLE)}, got {people!r}")
    personas = dataset.personas()
    if people == "all":
        return {person.name for person in personas}
    if target.run is None:
        return {person.name for person in personas} if people == "unseen" else set()
    settings = target.run.settings
    seen, unseen = split_people(personas, settings.get("fold", 0), settings.get("fold_scheme", "fold"))
    return set(unseen if people == "unseen" else seen)


def dealt(records: list[DpoRecord], names: set[str], n: int) -> list[DpoRecord]:
    """Up to `n` of these people's records, one per person in turn (each person's by id), so a small budget spans
    many people rather than the first few ids."""
    own: dict[str, list[DpoRecord]] = defaultdict(list)
    for record in sorted(records, key=lambda r: r.id):
        if record.name in names:
            own[record.name].append(record)
    order = sorted((rank, name) for name, mine in own.items() for rank in range(len(mine)))
    return [own[name][rank] for rank, name in order][:n]


def run_attribution(args: AttributionArguments, scorer_factory: Callable = model_scorer) -> dict:
    """Explain up to max_pairs pairs and write weights.jsonl + summary.json; returns the summary."""
    args, target = settle(args)
    dataset = DatasetDir(args.data)
    names = explained_people(dataset, target, args.people)
    records = dealt(dataset.dpo(args.test_method, args.split), names, args.max_pairs)
    prefixes = {(p.name, p.pair_id): p.text for p in dataset.prefixes(args.test_method)}
    gold = {p.name: p.description for p in dataset.personas() if p.description}
    rng = np.random.default_rng(args.seed)
    make_scorer = scorer_factory(args)
    rows, skipped = [], 0
    for record in progress.each(records, f"attribution {args.test_method}", unit="pair"):
        text = prefixes.get((record.name, record.id), prefixes.get((record.name, None), ""))
        sentences = split_sentences(text)
        if len(sentences) < 2 or text not in record.prompt[-1].content:
            skipped += 1
            continue
        row = explain_pair(record, sentences, make_scorer(record, text), gold.get(record.name), args, rng)
        rows.append({"name": record.name, "question_type": record.question_type, **row})
    if not rows:
        raise DataError(f"{dataset.prefix_path(args.test_method)}: no pair has a prefix of two or more sentences")
    out = Path(args.out) if args.out else Path(args.model).parent / "attribution" / args.test_method
    summary = {
        "model": args.model,
        "test_method": args.test_method,
        "people": args.people,
        "n_people": len({row["name"] for row in rows}),
        "system_prompt": args.system_prompt,
        "max_length": args.max_length,
        "pairs": len(rows),
        "skipped": skipped,
        "n_ablations": args.n_ablations,
        **summarise(rows),
    }
    write_jsonl(out / "weights.jsonl", rows)
    write_json(out / "summary.json", summary)
    return summary


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("attribution", [AttributionArguments], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (config,) = parse_config(parser or make_parser(), args)
    summary = run_attribution(config)
    for label in ("correct", "wrong"):
        values = ", ".join(
            f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in summary[label].items() if k != "kinds"
        )
        print(f"{label}: {values}")
    print(
        f"explained {summary['pairs']} pairs of {summary['n_people']} {summary['people']} people "
        f"({summary['skipped']} skipped: prefix under two sentences)"
    )


if __name__ == "__main__":
    main()
