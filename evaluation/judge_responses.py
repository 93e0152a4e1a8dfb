"""Judge generated responses offline: against the synthetic world's ground truth, or against the pair's answers.

`world` (synthetic datasets only): the answer words of the question's axis (famous_persona/world_vocab.yaml) that a
response mentions decide its verdict: aligned (only the person's own category), misaligned (only another one), mixed
(several) or off_topic (none). `reference`: ROUGE-L and MiniLM cosine of the response to the chosen and to the
rejected answer; aligned when strictly closer to the chosen one (a tie counts as not aligned, like a tied reward).
`persona` (evaluation/judge_persona.py): an LLM simulating the person judges the response against `--against` (the
chosen answer, or another run's responses) in both orders, through any backend given by `--judge_backend` (a YAML
in the shape of experiments/configs/inference/*.yaml) and the request cache, asked in the words of
famous_persona/wording.yaml or of `--wording FILE` (its judge_* fields; the summary records their digest); metric
`gen_judge_win`.
Reads <out>/generations.jsonl, writes <out>/judge_<name>.jsonl (one verdict per response, with a `metrics` map of
booleans that analysis.aggregate adds to results.csv) and <out>/judge_<name>_summary.json (rates, run identity).
Usage: `python -m evaluation.judge_responses --judge world --out
dump/demo/tiny/dpo/persona_gold/fold0/generate/persona_gold`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trl import TrlParser

from evaluation.judge_persona import judge_persona
from famous_persona import world_vocab
from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import DatasetDir, RecordError, read_json, read_rows, write_json, write_jsonl
from famous_persona.manifest import output_manifest
from famous_persona.text_overlap import rouge_l, tokens
from famous_persona.wording import Wording, load_wording

GENERATIONS = "generations.jsonl"
IDENTITY = ("experiment", "model_short", "train_method", "test_method", "fold", "fold_scheme")
WORLD_VERDICTS = ("aligned", "misaligned", "mixed", "off_topic")


@dataclass
class JudgeArguments:
    out: str = field(metadata={"help": "Directory with generations.jsonl (normally <run>/generate/<test_method>)."})
    judge: str = field(
        default="world",
        metadata={"help": "world, reference, persona, a registered judge, or all (every registered one that applies)."},
    )
    data: str | None = field(default=None, metadata={"help": "Dataset directory; the generation's when not given."})
    judge_backend: str | None = field(
        default=None, metadata={"help": "persona judge: backend YAML (e.g. experiments/configs/inference/gpt4.yaml)."}
    )
    judge_set: list[str] = field(
        default_factory=list, metadata={"help": "persona judge: backend overrides, e.g. temperature=0 max_tokens=256."}
    )
    against: str = field(
        default="chosen", metadata={"help": "persona judge: 'chosen', or a directory with the opponent's generations."}
    )
    judge_cache: str | None = field(
        default=None, metadata={"help": "persona judge: request cache (default <out>/cache/persona_judge.sqlite)."}
    )
    wording: str | None = field(
        default=None,
        metadata={
            "help": "persona judge: YAML whose judge_* fields replace the request (famous_persona/wording.yaml)."
        },
    )


def mentioned(response: str, axis: str) -> set[str]:
    """The categories of `axis` whose answer words the response uses."""
    words = set(tokens(response))
    return {key for key, category in world_vocab.CATEGORIES[axis].items() if words & set(category.answers)}


def world_verdict(response: str, axis: str, own: str) -> str:
    found = mentioned(response, axis)
    if not found:
        return "off_topic"
    if len(found) > 1:
        return "mixed"
    return "aligned" if found == {own} else "misaligned"


def judge_world(rows: list[dict], dataset: DatasetDir, test_method: str) -> list[dict]:
    pairs = {pair.id: pair for pair in dataset.pairs()}
    if not world_vocab.is_synthetic(list(pairs.values())):
        raise DataError(f"{dataset.pairs_path}: the world judge needs a synthetic dataset (pairs with ground truth)")
    unknown = [row["id"] for row in rows if row["id"] not in pairs]
    if unknown:
        raise DataError(f"{dataset.pairs_path}: no pair for generated ids {unknown[:5]}; wrong --data?")
    verdicts = []
    for row in rows:
        meta = pairs[row["id"]].meta or {}
        verdict = world_verdict(row["response"], meta["world_axis"], meta["person_category"])
        found = sorted(mentioned(row["response"], meta["world_axis"]))
        verdicts.append({**_key(row), "verdict": verdict, "categories": found, "own": meta["person_category"]})
        verdicts[-1]["metrics"] = {"gen_world_aligned": verdict == "aligned"}
    return verdicts


def judge_reference(rows: list[dict], dataset: DatasetDir, test_method: str) -> list[dict]:
    from famous_persona.embeddings import embed

    records = {record.id: record for record in dataset.dpo(test_method, "test")}
    answers = {
        row["id"]: (records[row["id"]].chosen[0].content, records[row["id"]].rejected[0].content) for row in rows
    }
    vectors = embed([row["response"] for row in rows] + [text for pair in answers.values() for text in pair])
    verdicts = []
    for row in rows:
        chosen, rejected = answers[row["id"]]
        response = vectors[row["response"]]
        scores = {
            "rouge_chosen": rouge_l(row["response"], chosen),
            "rouge_rejected": rouge_l(row["response"], rejected),
            "cosine_chosen": float(response @ vectors[chosen]),
            "cosine_rejected": float(response @ vectors[rejected]),
        }
        metrics = {
            "gen_reference_aligned": scores["cosine_chosen"] > scores["cosine_rejected"],
            "gen_reference_rouge_aligned": scores["rouge_chosen"] > scores["rouge_rejected"],
        }
        verdicts.append({**_key(row), **scores, "metrics": metrics})
    return verdicts


Judge = Callable[[list[dict], DatasetDir, str], list[dict]]
"""(generations rows, dataset, test method) → one verdict per row: its id, name, question type, seen and fold, and a
`metrics` map of booleans named `gen_*`."""
JUDGES: dict[str, Judge] = {}


def register_judge(name: str, judge: Judge) -> Judge:
    """Make `judge` the one `--judge <name>` runs, and one of `--judge all` (docs/design.md §15.5)."""
    if name in JUDGES or name in ("all", "persona"):
        raise ValueError(f"the judge name {name!r} is taken")
    JUDGES[name] = judge
    return judge


register_judge("reference", judge_reference)
register_judge("world", judge_world)


def _key(row: dict) -> dict:
    return {key: row[key] for key in ("id", "name", "question_type", "seen", "fold")}


def _read_generations(out: Path) -> list[dict]:
    path = out / GENERATIONS
    if not path.is_file():
        raise RecordError(path, None, None, "file not found; run evaluation.generate first")
    rows = []
    for number, row in enumerate(read_rows(path), start=1):
        missing = [key for key in ("id", "name", "question_type", "seen", "fold", "response") if key not in row]
        if missing:
            raise RecordError(path, number, missing[0], "missing")
        rows.append(row)
    return rows


def summarise(verdicts: list[dict]) -> dict[str, Any]:
    """Rates of every metric (and of every world verdict) for seen/unseen × question type and overall."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in verdicts:
        side = "seen" if row["seen"] else "unseen"
        for key in (f"{side}/{row['question_type']}", f"{side}/total", "all/total"):
            groups[key].append(row)
    table: dict[str, Any] = {}
    for key, members in sorted(groups.items()):
        cell: dict[str, Any] = {"n": len(members)}
        for metric in members[0]["metrics"]:
            cell[metric] = sum(row["metrics"][metric] for row in members) / len(members)
        if "verdict" in members[0]:
            counts = Counter(row["verdict"] for row in members)
            cell.update({verdict: counts[verdict] / len(members) for verdict in WORLD_VERDICTS})
        table[key] = cell
    return table


def _persona(
    args: JudgeArguments, tally: dict[str, Any], wording: Wording
) -> Callable[[list[dict], DatasetDir, str], list[dict]]:
    """The persona judge bound to its backend, cache and wording; its request tally is filled into `tally`."""
    from famous_persona.config import read_config
    from famous_persona.llm.config import BackendConfig

    if args.judge_backend is None:
        raise DataError("the persona judge needs --judge_backend (a backend YAML, e.g. experiments/configs/inference/)")
    overrides = [token for item in args.judge_set for token in (f"--{item.partition('=')[0]}", item.partition("=")[2])]
    backend = read_config(args.judge_backend, BackendConfig, overrides)
    cache = Path(args.judge_cache) if args.judge_cache else Path(args.out) / "cache" / "persona_judge.sqlite"

    def run(rows: list[dict], dataset: DatasetDir, test_method: str) -> list[dict]:
        verdicts, counts = judge_persona(rows, dataset, backend, cache, args.against, wording=wording)
        tally.update(counts)
        return verdicts

    return run


def run_judge(args: JudgeArguments) -> dict[str, dict[str, Any]]:
    """Run the chosen judge(s) on one generations file; returns each judge's summary."""
    wording = load_wording(args.wording)
    out = Path(args.out)
    rows = _read_generations(out)
    config = read_json(output_manifest(out, "evaluation.generate"))["config"]
    dataset = DatasetDir(args.data or config["data"])
    tally: dict[str, Any] = {}
    judges = {**JUDGES, "persona": _persona(args, tally, wording)} if args.judge == "persona" else JUDGES
    if args.judge == "all":
        synthetic = world_vocab.is_synthetic(dataset.pairs())
        names = [name for name in JUDGES if name != "world" or synthetic]
    elif args.judge in judges:
        names = [args.judge]
    else:
        raise DataError(f"judge must be one of {sorted([*JUDGES, 'persona'])} or 'all', got {args.judge!r}")
    summaries = {}
    for name in names:
        verdicts = judges[name](rows, dataset, config["test_method"])
        write_jsonl(out / f"judge_{name}.jsonl", verdicts)
        identity = {key: config[key] for key in IDENTITY}
        summary = {
            **identity,
            "model": config["model_short"],
            "judge": name,
            "n": len(verdicts),
            "config": asdict(args),
        }
        summary["metrics"] = sorted(verdicts[0]["metrics"]) if verdicts else []
        summary["rates"] = summarise(verdicts)
        if name == "persona":
            summary["outcomes"] = dict(Counter(row["outcome"] for row in verdicts))
            summary["requests"] = tally
            summary["wording"] = wording.record("judge")
        write_json(out / f"judge_{name}_summary.json", summary)
        summaries[name] = summary
    return summaries


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("judge-responses", [JudgeArguments], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (judge_args,) = parse_config(parser or make_parser(), args)
    for name, summary in run_judge(judge_args).items():
        rates = summary["rates"]
        print(
            name,
            " ".join(
                f"{key}:{metric}={cell[metric]:.3f}" for key, cell in rates.items() for metric in summary["metrics"]
            ),
        )


if __name__ == "__main__":
    main()
