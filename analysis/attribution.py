"""Which sentences of a prefix move the model's preference? ContextCite-style attribution (docs/design.md §12).

For each test pair: split the prefix into sentences, score the chosen-minus-rejected margin (ref_free_avg) under random
sentence ablations (each sentence kept with probability 1/2), fit a LASSO from the keep-mask to the margin, and read one
weight per sentence. Correctly and wrongly ranked pairs are summarised apart; with gold personas (`description`), the
top sentence's word overlap with the gold persona is compared to the average sentence's. Usage:
`python -m analysis.attribution --model dump/demo/tiny/persona_gold/fold0/model --data data/synthetic_demo
--test_method persona_gold --max_pairs 32`.
"""

from __future__ import annotations

import re
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
from famous_persona.io import DatasetDir, write_json, write_jsonl

Scorer = Callable[[Sequence[str]], np.ndarray]
_SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?]+|\n|$)\s*")
_WORD = re.compile(r"[a-z]{4,}")


@dataclass
class AttributionArguments:
    model: str = field(default="dump/demo/tiny/persona_gold/fold0/model", metadata={"help": "Trained model dir."})
    data: str = field(default="data/synthetic_demo", metadata={"help": "Dataset with prefixes/ and dpo/<method>/."})
    test_method: str = field(default="persona_gold", metadata={"help": "Prefix method whose sentences are ablated."})
    out: str | None = field(default=None, metadata={"help": "Output dir; default <model>/../attribution/<method>."})
    split: str = field(default="test", metadata={"help": "Which baked split to explain."})
    max_pairs: int = field(default=32, metadata={"help": "Explain at most this many pairs (the first ones by id)."})
    n_ablations: int = field(default=64, metadata={"help": "Random sentence ablations per pair."})
    lasso_alpha: float = field(default=0.01, metadata={"help": "L1 strength, in units of the margins' spread."})
    batch_size: int = field(default=16, metadata={"help": "Sequences per forward pass."})
    max_length: int = field(default=512, metadata={"help": "Tokens, as in scoring."})
    system_prompt: str | None = field(default=None, metadata={"help": "System message, as in training."})
    dtype: str = field(
        default="auto", metadata={"help": "auto (bfloat16 on a GPU that supports it, else float32) | float32 | ..."}
    )
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


def explain_pair(
    record_id: str,
    sentences: list[str],
    scorer: Scorer,
    gold: str | None,
    args: AttributionArguments,
    rng: np.random.Generator,
) -> dict:
    """One output row: the sentences, their weights, which one leads, and how it overlaps the gold persona."""
    weights, full, intercept, r2 = attribute(sentences, scorer, args.n_ablations, args.lasso_alpha, rng)
    top = int(np.argmax(weights))
    magnitude = float(np.abs(weights).sum())
    row = {
        "id": record_id,
        "full_margin": full,
        "correct": full > 0,
        "sentences": sentences,
        "weights": weights.tolist(),
        "intercept": intercept,
        "r2": r2,
        "top": top,
        "top_share": float(abs(weights[top]) / magnitude) if magnitude else 0.0,
    }
    if gold is not None:
        row["top_gold_overlap"] = gold_overlap(sentences[top], gold)
        row["mean_gold_overlap"] = float(np.mean([gold_overlap(s, gold) for s in sentences]))
    return row


def summarise(rows: list[dict]) -> dict:
    """Means per outcome (correct / wrong): margin, fit quality, concentration and gold overlap of the top sentence."""
    summary = {}
    for label, flag in (("correct", True), ("wrong", False)):
        part = [row for row in rows if row["correct"] == flag]
        keys = ["full_margin", "r2", "top_share", "top_gold_overlap", "mean_gold_overlap"]
        means = {k: float(np.mean([r[k] for r in part])) for k in keys if part and k in part[0]}
        summary[label] = {"pairs": len(part), **means}
    return summary


def run_attribution(args: AttributionArguments, scorer_factory: Callable = model_scorer) -> dict:
    """Explain up to max_pairs pairs and write weights.jsonl + summary.json; returns the summary."""
    dataset = DatasetDir(args.data)
    records = sorted(dataset.dpo(args.test_method, args.split), key=lambda r: r.id)
    prefixes = {(p.name, p.pair_id): p.text for p in dataset.prefixes(args.test_method)}
    gold = {p.name: p.description for p in dataset.personas() if p.description}
    rng = np.random.default_rng(args.seed)
    make_scorer = scorer_factory(args)
    rows, skipped = [], 0
    for record in progress.each(records[: args.max_pairs], f"attribution {args.test_method}", unit="pair"):
        text = prefixes.get((record.name, record.id), prefixes.get((record.name, None), ""))
        sentences = split_sentences(text)
        if len(sentences) < 2 or text not in record.prompt[-1].content:
            skipped += 1
            continue
        scorer = make_scorer(record, text)
        row = explain_pair(record.id, sentences, scorer, gold.get(record.name), args, rng)
        rows.append({"name": record.name, "question_type": record.question_type, **row})
    if not rows:
        raise DataError(f"{dataset.prefix_path(args.test_method)}: no pair has a prefix of two or more sentences")
    out = Path(args.out) if args.out else Path(args.model).parent / "attribution" / args.test_method
    summary = {
        "model": args.model,
        "test_method": args.test_method,
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
        values = ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in summary[label].items())
        print(f"{label}: {values}")
    print(f"explained {summary['pairs']} pairs ({summary['skipped']} skipped: prefix under two sentences)")


if __name__ == "__main__":
    main()
