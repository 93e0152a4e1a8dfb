"""Score a model as an implicit reward model on every person's test pairs for one test prefix (docs/design.md §10).

Writes <out>/scores.jsonl (one row per pair) and <out>/summary.json (accuracies per metric, seen/unseen, question
type; truncations; the run's identity, so analysis never parses directory names).
Usage: `python -m evaluation.score --model dump/demo/tiny/dpo/persona_gold/fold0/model --data DIR --test_method
persona_gold --fold 0 --out dump/demo/tiny/dpo/persona_gold/fold0/eval/persona_gold --experiment demo --model_short tiny
--train_method persona_gold`. Prompt-only: `--train_method none --fold -1`. `--scorer naive` scores every sequence
in full (the reference); the default reuses shared prefixes. Several processes (`--num_shards N --shard_index i`, or
`accelerate launch`) each score a share of the people; the last to finish merges the shares. A VPL model (its
directory holds the user encoder) is scored with each person's soft token in front of the prompt (`--scorer vpl`,
chosen by itself for such a directory). The model, its base, the system turn, the maximum length, the precision and
the device come from the trained run unless given (`famous_persona.eval_target`). `--tokenization original` scores the
ids the paper's scorer made (BOS and EOS added again); such a score's model is labelled `<model_short>@original`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from accelerate.utils import gather_object
from trl import TrlParser

from evaluation import shards
from evaluation.fast_scoring import TREE_SEQUENCES, score_pairs_fast
from evaluation.vpl_scoring import has_encoder, person_tokens, score_with_tokens
from famous_persona import chat, progress, trainers
from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.eval_target import EvalArguments, EvalTarget, load_target, settle
from famous_persona.io import DatasetDir, write_json, write_jsonl
from famous_persona.logprobs import adapter_disabled, score_pairs
from famous_persona.manifest import output_manifest, skip_finished, write_manifest
from famous_persona.metrics import METRICS, TIE_POLICY, margin
from famous_persona.models import load_model, load_tokenizer, process_state
from famous_persona.personas import split_people

logger = logging.getLogger(__name__)

STAGE = "evaluation.score"
Scorer = Callable[[Any, list[chat.EncodedPair], int, int], list[tuple[float, int, float, int]]]
SCORERS: dict[str, Scorer] = {}
"""The scorers `--scorer` names besides `auto` (which picks one) and `vpl` (which needs each person's soft token)."""
DEFAULT_BETA = 0.1
SHARD_OWN = ("shard_index", "force", "batch_size", "device")
CHUNK_PAIRS = TREE_SEQUENCES // 2


@dataclass(kw_only=True)
class ScoreArguments(EvalArguments):
    """The evaluation target and test prefix (EvalArguments), and how the pairs are scored."""

    ref_model: str | None = field(
        default=None, metadata={"help": "Reference for dpo_ref; an adapter's own base is used when not given."}
    )
    beta: float | None = field(
        default=None, metadata={"help": f"beta of the dpo_ref margin; default: the trained run's, else {DEFAULT_BETA}."}
    )
    scorer: str = field(
        default="auto",
        metadata={
            "help": "fast (shared prefixes computed once), naive (every sequence in full), vpl (a VPL model: each "
            "person's soft token before the prompt), or one added by register_scorer; auto = vpl for a VPL model "
            "directory, fast otherwise."
        },
    )
    tokenization: str = field(
        default="trl",
        metadata={
            "help": "trl: the ids training saw (the chat template split as TRL's DPOTrainer splits it). original: "
            "the paper's scorer, reward-bench's DPOInference, which adds the tokenizer's BOS before the prompt and "
            "EOS after each answer even where the template already wrote them. Recorded in the outputs; an original "
            "score's model is labelled <model_short>@original, so analysis never pools the two."
        },
    )
    log_samples: bool = field(
        default=False, metadata={"help": "Also write each pair's prompt, chosen and rejected messages to scores.jsonl."}
    )
    pairs_per_person: int = field(
        default=0,
        metadata={
            "help": "Score N of each person's test pairs, evenly spaced (0: all): a quick look with a slow model."
        },
    )


def register_scorer(name: str, scorer: Scorer) -> Scorer:
    """Make `scorer` the one `--scorer <name>` runs: (model, encoded pairs, pad id, batch size) → per pair the chosen
    answer's log-prob and tokens, then the rejected one's (docs/design.md §15.6)."""
    if name in SCORERS or name in ("auto", "vpl"):
        raise ValueError(f"the scorer name {name!r} is taken")
    SCORERS[name] = scorer
    return scorer


register_scorer("fast", score_pairs_fast)
register_scorer("naive", score_pairs)


def scoring_settings(args: ScoreArguments) -> tuple[ScoreArguments, EvalTarget]:
    """Every setting resolved once (docs/design.md §10): the target's through `eval_target.settle`, then β (the
    trained run's unless given) and the tokenization mode checked."""
    args, target = settle(args)
    beta = args.beta if args.beta is not None else target.beta if target.beta is not None else DEFAULT_BETA
    chat.check_tokenization(args.tokenization)
    return replace(args, beta=beta), target


def resolve_scorer(args: ScoreArguments) -> str:
    """The scorer asked for, `auto` made concrete from the model directory."""
    choices = ["auto", *SCORERS, "vpl"]
    if args.scorer not in choices:
        raise DataError(f"scorer must be one of {choices}, got {args.scorer!r}")
    if args.scorer == "auto":
        return "vpl" if has_encoder(args.model) else "fast"
    return args.scorer


def vpl_scorer(args: ScoreArguments, dataset: DatasetDir, records: list) -> Callable[[list], Scorer]:
    """Every-sequence scoring with each record's person's soft token (posterior mean from their own train pairs),
    one scorer per slice of the records; the tokens are computed once."""
    tokens = person_tokens(args.model, dataset, sorted({record.name for record in records}))

    def for_records(part: list) -> Scorer:
        names = [record.name for record in part]

        def scorer(model: Any, encoded: list[chat.EncodedPair], pad_id: int, batch_size: int) -> list:
            return score_with_tokens(model, encoded, names, tokens, pad_id, batch_size)

        return scorer

    return for_records


def _score_rows(
    args: ScoreArguments, target: EvalTarget, scorer_for: Callable[[list], Scorer], records: list, unseen: set[str]
) -> list:
    """One scores.jsonl row per record, from the policy and (when known) the reference; a bar over pairs on a
    terminal."""
    tokenizer, model = load_target(target)
    encoded = [
        chat.encode(tokenizer, chat.conversation(r, tokenizer, args.max_length, args.system_prompt), args.tokenization)
        for r in records
    ]
    has_reference = args.ref_model is not None or target.adapter is not None
    with progress.bar(len(records) * (1 + has_reference), f"scoring {args.test_method}", unit="pair") as shown:

        def run(scored_by: Any) -> list:
            return _in_chunks(scored_by, scorer_for, records, encoded, tokenizer.pad_token_id, args.batch_size, shown)

        scores, reference = run(model), None
        if args.ref_model is not None:
            reference = run(load_model(args.ref_model, dtype=target.dtype, device=target.device))
        elif has_reference:
            with adapter_disabled(model):
                reference = run(model)
    return pair_rows(records, unseen, args.fold, scores, reference)


def _in_chunks(model: Any, scorer_for, records: list, encoded: list, pad_id: int, batch_size: int, shown) -> list:
    """The scorer over slices of CHUNK_PAIRS pairs, so the bar moves; a slice is as large as one of the fast scorer's
    prefix trees, so little sharing is lost."""
    scores: list = []
    for start in range(0, len(records), CHUNK_PAIRS):
        part = slice(start, start + CHUNK_PAIRS)
        scores += scorer_for(records[part])(model, encoded[part], pad_id, batch_size)
        shown.update(len(encoded[part]))
    return scores


def pair_rows(records: list, unseen: set[str], fold: int, scores: list, reference: list | None) -> list[dict]:
    """scores.jsonl rows: the policy's (and, when known, the reference's) answer log-probs per pair."""
    rows = []
    for i, record in enumerate(records):
        row = {
            "id": record.id,
            "name": record.name,
            "question_type": record.question_type,
            "seen": record.name not in unseen,
            "fold": fold,
            "chosen_logp": scores[i][0],
            "chosen_tokens": scores[i][1],
            "rejected_logp": scores[i][2],
            "rejected_tokens": scores[i][3],
        }
        if reference is not None:
            row["ref_chosen_logp"], row["ref_rejected_logp"] = reference[i][0], reference[i][2]
        rows.append(row)
    return rows


def summarise(rows: list[dict[str, Any]], beta: float) -> dict[str, Any]:
    """Accuracy per metric for seen/unseen × personal/divergent/total, with tie counts."""
    table: dict[str, Any] = {}
    for metric in METRICS:
        cells: dict[str, dict[str, int]] = defaultdict(lambda: {"n": 0, "n_correct": 0, "ties": 0})
        for row in rows:
            value = margin(row, metric, beta)
            if value is None:
                continue
            group = "seen" if row["seen"] else "unseen"
            for key in (
                f"{group}/{row['question_type']}",
                f"{group}/total",
                f"all/{row['question_type']}",
                "all/total",
            ):
                cells[key]["n"] += 1
                cells[key]["n_correct"] += value > 0
                cells[key]["ties"] += value == 0
        table[metric] = {key: {**c, "accuracy": c["n_correct"] / c["n"]} for key, c in sorted(cells.items())}
    return table


def score(args: ScoreArguments) -> dict[str, Any] | None:
    """Score this process's share of the pairs; the complete set goes to scores.jsonl and summary.json."""
    if skip_finished(args.out, args.force, STAGE):
        return None
    args, target = scoring_settings(args)
    name = resolve_scorer(args)
    dataset = DatasetDir(args.data)
    unseen = set(split_people(dataset.personas(), args.fold, args.fold_scheme, args.train_method == "none")[1])
    records = spread_per_person(dataset.dpo(args.test_method, "test"), args.pairs_per_person)
    state = process_state()
    launched = args.num_shards == 1 and state.num_processes > 1
    if launched:
        index, count = state.process_index, state.num_processes
        with state.split_between_processes(shards.people(records)) as names:
            mine = [record for record in records if record.name in set(names)]
    else:
        index, count = shards.checked_shard(args.shard_index, args.num_shards)
        mine = shards.select(records, index, count)
    scorer_for = vpl_scorer(args, dataset, mine) if name == "vpl" else lambda part: SCORERS[name]
    rows = _score_rows(args, target, scorer_for, mine, unseen)
    if launched:
        rows = shards.merge_rows(gather_object(rows), records, Path(args.out))
        if not state.is_main_process:
            return None
    elif count > 1:
        settings = shards.part_settings(args, SHARD_OWN, dataset.dpo_path(args.test_method, "test"), scorer=name)
        shards.write_shard(Path(args.out), index, count, rows, settings)
        rows = shards.merge(Path(args.out), records, count, settings)
        if rows is None:
            logger.info("shard %d of %d written; the last shard to finish writes the summary", index, count)
            return None
    tokenizer = load_tokenizer(target.model)
    convs = [chat.conversation(r, tokenizer, args.max_length, args.system_prompt) for r in records]
    subset = {"pairs_per_person": args.pairs_per_person} if args.pairs_per_person > 0 else {}
    summary = write_outputs(args, target, rows, convs, scorer=name, shards=count, **subset)
    shards.clear(shards.shard_paths(Path(args.out), count))
    return summary


def spread_per_person(records: list, n: int) -> list:
    """`n` of each person's records, evenly spaced in file order (all for 0), so a subset keeps the mix of question
    types and is the same on every run."""
    if n <= 0:
        return records
    own: dict[str, list] = defaultdict(list)
    for record in records:
        own[record.name].append(record)
    kept = {id(rows[i * len(rows) // n]) for rows in own.values() for i in range(min(n, len(rows)))}
    return [record for record in records if id(record) in kept]


def trainer_of(args: ScoreArguments, target: EvalTarget) -> str:
    """The algorithm that trained the scored model, from its run's manifest; `none` for a model scored untrained."""
    if args.train_method == "none":
        return "none"
    return trainers.trained_by(target.run.stage if target.run else None) or "unknown"


def run_label(args: ScoreArguments) -> str:
    """The model name the outputs carry: the short name, marked when scored with the original tokenization, so a
    table never pools the two modes."""
    return args.model_short if args.tokenization == "trl" else f"{args.model_short}@{args.tokenization}"


def write_outputs(
    args: ScoreArguments, target: EvalTarget, rows: list[dict], convs: list[chat.Conversation], **extra: Any
) -> dict[str, Any]:
    """scores.jsonl, summary.json (the run's identity and accuracies) and a finished manifest."""
    out = Path(args.out)
    summary = {
        "experiment": args.experiment,
        "model": run_label(args),
        "trainer": trainer_of(args, target),
        "train_method": args.train_method,
        "test_method": args.test_method,
        "fold": args.fold,
        "fold_scheme": args.fold_scheme,
        "beta": args.beta,
        "tokenization": args.tokenization,
        "n_pairs": len(rows),
        "truncated": sum(conv.truncated_words > 0 for conv in convs),
        "tie_policy": TIE_POLICY,
        **extra,
        "accuracy": summarise(rows, args.beta),
    }
    write_jsonl(out / "scores.jsonl", [_with_identity(args, row, conv) for row, conv in zip(rows, convs, strict=True)])
    write_json(out / "summary.json", summary)
    write_manifest(output_manifest(out, STAGE), stage=STAGE, config=asdict(args), status="finished")
    return summary


def _with_identity(args: ScoreArguments, row: dict, conv: chat.Conversation) -> dict:
    """A row that names its run, so a glob over a dump is analysable without joins; the texts only on request."""
    identity = {"model": run_label(args), "train_method": args.train_method, "test_method": args.test_method}
    samples = {"prompt": conv.prompt, "chosen": conv.chosen, "rejected": conv.rejected} if args.log_samples else {}
    return {**row, **identity, **samples}


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("score", [ScoreArguments], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (score_args,) = parse_config(parser or make_parser(), args)
    print_accuracy(score(score_args))


def print_accuracy(summary: dict[str, Any] | None) -> None:
    """One line of ref_free_avg accuracies per group, for the console (nothing when the run was skipped)."""
    if summary is not None:
        cell = summary["accuracy"]["ref_free_avg"]
        print(" ".join(f"{key}={value['accuracy']:.3f}" for key, value in cell.items()))


if __name__ == "__main__":
    main()
