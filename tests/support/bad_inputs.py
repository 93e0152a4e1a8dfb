"""A corpus of bad inputs across sampling, training, evaluation and analysis: each must stop with one line on stderr
and exit status 2, never a traceback.

Each case names what is bad, writes it into its own folder and gives the `famous-persona` command line that reads
it. In the command, `{w}` is a good baked world (read only), `{m}` a tiny model built on it and `{d}` the case's
folder. `python -m tests.support.bad_inputs` builds both, runs every case in this process and prints a markdown
table: input | command | exit code | first line of stderr.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shlex
import shutil
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Make = Callable[[Path, Path], None]


def _nothing(case_dir: Path, world: Path) -> None:
    """The case needs no file of its own."""


def _write(name: str, data: bytes | str) -> Make:
    """A file `name` in the case folder with these bytes."""

    def make(case_dir: Path, world: Path) -> None:
        path = case_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)

    return make


def _copy(change: Callable[[Path], None] = lambda root: None) -> Make:
    """A copy of the world at `{d}/w`, then `change(copy)` spoils it."""

    def make(case_dir: Path, world: Path) -> None:
        shutil.copytree(world, case_dir / "w")
        change(case_dir / "w")

    return make


def _spoil(relative: str, edit: Callable[[bytes], bytes]) -> Make:
    """A copy of the world whose file `relative` goes through `edit`."""

    def change(root: Path) -> None:
        path = root / relative
        path.write_bytes(edit(path.read_bytes()))

    return _copy(change)


def _remove(relative: str) -> Make:
    return _copy(lambda root: (root / relative).unlink())


def _cut_last_line(data: bytes) -> bytes:
    """The file as a crash mid-write would leave it: its last line cut in half, no newline."""
    lines = data.splitlines(keepends=True)
    return b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2]


def _bad_utf8(data: bytes) -> bytes:
    """A Latin-1 byte in the second line."""
    lines = data.splitlines(keepends=True)
    return b"".join([lines[0], lines[1].replace(b'"', b'"\xe9', 1), *lines[2:]])


def _giant_line(data: bytes) -> bytes:
    """A second line of 2 MiB (a JSON object, but far past the line limit)."""
    first = data.splitlines(keepends=True)[0]
    return first + json.dumps({"junk": "x" * (2 << 20)}).encode() + b"\n"


def _empty(data: bytes) -> bytes:
    return b""


def _not_a_model(case_dir: Path, world: Path) -> None:
    """A folder that holds files, but no model."""
    (case_dir / "model").mkdir()
    (case_dir / "model" / "notes.txt").write_text("weights to come\n", encoding="utf-8")


def _run_dir(case_dir: Path, world: Path) -> None:
    """An experiment folder with one summary but a scores file in Latin-1."""
    run = case_dir / "exp" / "tiny" / "none" / "eval" / "no_prefix"
    run.mkdir(parents=True)
    summary = {"experiment": "x", "model": "tiny", "train_method": "none", "test_method": "no_prefix", "fold": -1}
    (run / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    (run / "scores.jsonl").write_bytes(b'{"id": "caf\xe9"}\n')


def _torn_summary(case_dir: Path, world: Path) -> None:
    run = case_dir / "exp" / "tiny" / "none" / "eval" / "no_prefix"
    run.mkdir(parents=True)
    (run / "summary.json").write_text('{"experiment": "x", "model": ', encoding="utf-8")
    (run / "scores.jsonl").write_text("", encoding="utf-8")


def _generation_work(stage: str, data: bytes | None) -> Make:
    """A generation output folder whose `work/<stage>.jsonl` is `data` (absent when None)."""

    def make(case_dir: Path, world: Path) -> None:
        (case_dir / "gen" / "work").mkdir(parents=True)
        if data is not None:
            (case_dir / "gen" / "work" / f"{stage}.jsonl").write_bytes(data)

    return make


@dataclass(frozen=True)
class Case:
    """One bad input: what it is, the stage it hits, how to make it, and the command that reads it."""

    name: str
    stage: str
    command: str
    make: Make = _nothing


PEOPLE = "{w}/personas.jsonl"
GEN = "--out {d}/gen --people_table " + PEOPLE
TRAIN = "train --data {w} --method no_prefix --output_dir {d}/run --use_cpu true --report_to none"
SCORE = "score --data {w} --test_method no_prefix --out {d}/eval"

CASES = [
    Case(
        "unparsable YAML config", "sampling", "world --config {d}/c.yaml", _write("c.yaml", "people: 3\nseed: [1, 2\n")
    ),
    Case(
        "seed: [1, 2] (a list for an integer)",
        "sampling",
        "world --config {d}/c.yaml",
        _write("c.yaml", "seed: [1, 2]\n"),
    ),
    Case(
        "people: many (text for an integer)",
        "sampling",
        "world --config {d}/c.yaml",
        _write("c.yaml", "people: many\n"),
    ),
    Case("YAML config in Latin-1", "sampling", "world --config {d}/c.yaml", _write("c.yaml", b"out: caf\xe9\n")),
    Case("YAML config that is a list", "sampling", "world --config {d}/c.yaml", _write("c.yaml", "- people: 3\n")),
    Case("YAML config missing", "sampling", "world --config {d}/none.yaml"),
    Case("--seed abc on the command line", "sampling", "world --out {d}/w --seed abc"),
    Case("unknown option --peeple", "sampling", "world --out {d}/w --peeple 3"),
    Case("world with more folds than people", "sampling", "world --out {d}/w --people 3 --folds 5"),
    Case(
        "pairs.jsonl with non-UTF-8 bytes",
        "sampling",
        "prefixes --data {d}/w --methods tag",
        _spoil("pairs.jsonl", _bad_utf8),
    ),
    Case(
        "pairs.jsonl with its last line cut",
        "sampling",
        "prefixes --data {d}/w --methods tag",
        _spoil("pairs.jsonl", _cut_last_line),
    ),
    Case(
        "pairs.jsonl with a 2 MiB line",
        "sampling",
        "prefixes --data {d}/w --methods tag",
        _spoil("pairs.jsonl", _giant_line),
    ),
    Case(
        "empty pairs.jsonl over existing prefixes",
        "sampling",
        "prefixes --data {d}/w --methods xyw_2s",
        _spoil("pairs.jsonl", _empty),
    ),
    Case("personas.jsonl missing", "sampling", "prefixes --data {d}/w --methods tag", _remove("personas.jsonl")),
    Case("unknown method suffix xyw_2s_foo", "sampling", "prefixes --data {d}/w --methods xyw_2s_foo", _copy()),
    Case("xyw_2s_bm52 (a typo read as a model)", "sampling", "prefixes --data {d}/w --methods xyw_2s_bm52", _copy()),
    Case("more shots than a person's train pairs", "sampling", "prefixes --data {d}/w --methods xyw_6s", _copy()),
    Case(
        "bake with its prefix file missing",
        "sampling",
        "bake --data {d}/w --methods xyw_2s",
        _remove("prefixes/xyw_2s.jsonl"),
    ),
    Case(
        "bake with a prefix file cut",
        "sampling",
        "bake --data {d}/w --methods tag",
        _spoil("prefixes/tag.jsonl", _cut_last_line),
    ),
    Case("split run alone, its input missing", "sampling", f"gen-split {GEN}", _generation_work("judge", None)),
    Case(
        "judge run alone, its input cut",
        "sampling",
        f"gen-judge {GEN}",
        _generation_work("filtered", b'{"qid": "a", "na'),
    ),
    Case(
        "people table in Latin-1",
        "sampling",
        "gen-personas --out {d}/gen --people_table {d}/p.jsonl",
        _write("p.jsonl", b'{"name": "Zo\xeb"}\n'),
    ),
    Case("train: batch size 0", "training", TRAIN + " --model_name_or_path {m} --per_device_train_batch_size 0"),
    Case("train: model dir that is not a model", "training", TRAIN + " --model_name_or_path {d}/model", _not_a_model),
    Case("train: hub id while offline", "training", TRAIN + " --model_name_or_path nobody/no-such-model"),
    Case("train: method not baked", "training", TRAIN.replace("no_prefix", "xyw_3s") + " --model_name_or_path {m}"),
    Case(
        "train: unknown method suffix",
        "training",
        TRAIN.replace("no_prefix", "xyw_2s_foo") + " --model_name_or_path {m}",
    ),
    Case(
        "train: train.jsonl with non-UTF-8 bytes",
        "training",
        TRAIN.replace("{w}", "{d}/w") + " --model_name_or_path {m}",
        _spoil("dpo/no_prefix/train.jsonl", _bad_utf8),
    ),
    Case(
        "train: learning_rate: fast in YAML",
        "training",
        TRAIN + " --model_name_or_path {m} --config {d}/c.yaml",
        _write("c.yaml", "learning_rate: fast\n"),
    ),
    Case(
        "sft: gradient accumulation 0",
        "training",
        TRAIN.replace("train", "sft", 1) + " --model_name_or_path {m} --gradient_accumulation_steps 0",
    ),
    Case("score: --batch_size 0", "evaluation", SCORE + " --model {m} --batch_size 0"),
    Case("score: model dir that is not a model", "evaluation", SCORE + " --model {d}/model", _not_a_model),
    Case("score: hub id while offline", "evaluation", SCORE + " --model nobody/no-such-model"),
    Case(
        "score: test.jsonl with its last line cut",
        "evaluation",
        SCORE.replace("{w}", "{d}/w") + " --model {m}",
        _spoil("dpo/no_prefix/test.jsonl", _cut_last_line),
    ),
    Case("score: dataset folder missing", "evaluation", SCORE.replace("{w}", "{d}/nowhere") + " --model {m}"),
    Case(
        "score: a training set as test method", "evaluation", SCORE.replace("no_prefix", "xyw_2s+tag") + " --model {m}"
    ),
    Case("score: unknown scorer", "evaluation", SCORE + " --model {m} --scorer quick"),
    Case(
        "generate-responses: batch size 0",
        "evaluation",
        "generate-responses --data {w} --test_method no_prefix --out {d}/gen --model {m} --batch_size 0",
    ),
    Case("aggregate: empty folder", "analysis", "aggregate --experiment_dir {d}"),
    Case("aggregate: folder missing", "analysis", "aggregate --experiment_dir {d}/nowhere"),
    Case("aggregate: scores.jsonl in Latin-1", "analysis", "aggregate --experiment_dir {d}/exp", _run_dir),
    Case("aggregate: summary.json cut", "analysis", "aggregate --experiment_dir {d}/exp", _torn_summary),
    Case("bias: empty folder", "analysis", "bias --experiment_dir {d} --data {w}"),
    Case("dataset-stats: dataset missing", "analysis", "dataset-stats --data {d}/nowhere"),
    Case("persona-quality: unknown method", "analysis", "persona-quality --data {w} --methods persona_xy_4s_foo_bar"),
    Case("aggregate: --n_boot 0", "analysis", "aggregate --experiment_dir {d} --n_boot 0"),
]


@dataclass
class Outcome:
    case: Case
    argv: list[str]
    code: int
    stderr: str

    @property
    def first_line(self) -> str:
        return next((line for line in self.stderr.splitlines() if line.strip()), "")


def run_case(case: Case, world: Path, model: Path, root: Path) -> Outcome:
    """Make the case's input in a fresh folder under `root` and run its command in this process; progress logs are
    silenced, so what is left on stderr is the error (or a traceback)."""
    from famous_persona.cli import main

    case_dir = Path(tempfile.mkdtemp(prefix="case-", dir=root))
    case.make(case_dir, world)
    argv = shlex.split(case.command.format(w=world, m=model, d=case_dir))
    err = io.StringIO()
    level = logging.root.manager.disable
    logging.disable(logging.INFO)
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            main(argv)
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except Exception:
            traceback.print_exc(file=err)
            code = 1
        finally:
            logging.disable(level)
    return Outcome(case, argv, code, err.getvalue())


def table(outcomes: list[Outcome]) -> str:
    """The markdown table of the closing note."""
    lines = ["| input | command | exit code | first line of stderr |", "|---|---|---|---|"]
    for outcome in outcomes:
        command = "famous-persona " + outcome.case.command
        cells = [outcome.case.name, f"`{command}`", str(outcome.code), outcome.first_line.replace("|", "\\|")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from famous_persona.models import TinyShape, build_tiny_model, dataset_texts
    from tests.support.world import build_world

    with tempfile.TemporaryDirectory() as tmp:
        world = build_world(Path(tmp) / "world").root
        shape = TinyShape(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
        model = build_tiny_model(dataset_texts(world), Path(tmp) / "tiny", shape=shape)
        outcomes = [run_case(case, world, model, Path(tmp)) for case in CASES]
    print(table(outcomes))
    sys.exit(0 if all(o.code == 2 and len(o.stderr.strip().splitlines()) == 1 for o in outcomes) else 1)


if __name__ == "__main__":
    main()
