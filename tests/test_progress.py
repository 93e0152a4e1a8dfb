"""Progress and tracking: bars on a terminal only, the scorer's slices, the training quiet off a terminal, the one
console line per finished run of the experiment scripts, recipes that log to TensorBoard, and no library noise."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import warnings
from pathlib import Path

import yaml

from evaluation import score
from famous_persona import progress
from famous_persona.config import parse_config
from famous_persona.llm.backend import Completion, Tally, make_request
from famous_persona.llm.cache import RequestCache, run_cached
from planner.run import headline
from planner.steps import Step
from training import command, dpo, sft

ROOT = Path(__file__).resolve().parents[1]


class EchoBackend:
    """Answers every request at once with its id."""

    concurrency = 4

    async def run(self, requests, on_done):
        for request in requests:
            on_done(request, Completion(f"reply {request.id}", "stop", 3, 2))
        return {}


def _run(tmp_path: Path, n: int) -> None:
    requests = [make_request(f"r{i}", "m", [("user", f"question {i}")], {}) for i in range(n)]
    asyncio.run(run_cached(requests, EchoBackend(), RequestCache(tmp_path / "cache.sqlite"), Tally(), desc="stage"))


def test_no_bar_when_stderr_is_not_a_terminal(tmp_path, capsys):
    _run(tmp_path, 3)
    assert capsys.readouterr().err == ""


def test_bar_on_a_terminal_counts_cache_hits_and_requests_in_flight(tmp_path, capsys, monkeypatch):
    _run(tmp_path, 2)
    monkeypatch.setattr(progress, "on_terminal", lambda: True)
    _run(tmp_path, 5)
    err = capsys.readouterr().err
    assert "stage" in err and "5/5" in err and "cached=2" in err and "in_flight=3" in err


def test_training_bars_are_off_off_a_terminal(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert progress.quiet_off_terminal() and os.environ["TQDM_DISABLE"] == "1"
    monkeypatch.setattr(progress, "on_terminal", lambda: True)
    monkeypatch.delenv("TQDM_DISABLE")
    assert not progress.quiet_off_terminal() and "TQDM_DISABLE" not in os.environ


def test_scoring_in_slices_keeps_the_order_and_moves_the_bar(monkeypatch):
    monkeypatch.setattr(score, "CHUNK_PAIRS", 2)
    slices = []

    def scorer_for(part):
        slices.append(part)
        return lambda model, encoded, pad_id, batch_size: [(x, 1, -x, 1) for x in encoded]

    moved = []
    shown = type("Bar", (), {"update": lambda self, n: moved.append(n)})()
    scores = score._in_chunks(None, scorer_for, list("abcde"), [1, 2, 3, 4, 5], 0, 8, shown)
    assert [s[0] for s in scores] == [1, 2, 3, 4, 5] and moved == [2, 2, 1]
    assert slices == [["a", "b"], ["c", "d"], ["e"]]


def test_a_finished_run_prints_its_accuracy(tmp_path):
    cells = {"seen/total": {"accuracy": 0.8125}, "unseen/total": {"accuracy": 0.5}}
    steps = []
    for method in ("no_prefix", "persona_gold"):
        path = tmp_path / "eval" / method / "summary.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"test_method": method, "accuracy": {"ref_free_avg": cells}}))
        steps.append(Step(f"r/score/{method}", "r", "score", "evaluation.score", [], str(path.parent), str(path), ""))
    each = "seen 0.812 unseen 0.500"
    assert headline(steps) == f"accuracy no_prefix {each}, persona_gold {each}"


def test_recipes_log_to_tensorboard_and_parse_without_deprecation_warnings():
    recipes = sorted((ROOT / "experiments/configs/models").glob("*/*.yaml"))
    trained = [path for path in recipes if path.stem in ("dpo", "sft")]
    assert trained and all(yaml.safe_load(path.read_text())["report_to"] == "tensorboard" for path in trained)
    assert not any("gradient_checkpointing" in yaml.safe_load(path.read_text()) for path in trained)
    cpu = [path for path in trained if path.parent.name in ("tiny", "smollm2")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with command.library_noise_quieted():
            for path in cpu:
                parse_config((sft if path.stem == "sft" else dpo).make_parser(), ["--config", str(path)])
    assert not [w for w in caught if "deprecated" in str(w.message)]


def test_the_tied_output_layer_is_not_reported_missing():
    trainer_logger, heard = logging.getLogger("transformers.trainer"), []
    listener = logging.Handler()
    listener.emit = lambda record: heard.append(record.getMessage())
    trainer_logger.addHandler(listener)
    level = trainer_logger.level
    trainer_logger.setLevel(logging.WARNING)
    other = "There were missing keys in the checkpoint model loaded: ['model.norm.weight']."
    with command.library_noise_quieted():
        trainer_logger.warning(command.TIED_HEAD)
        trainer_logger.warning(other)
    trainer_logger.removeHandler(listener)
    trainer_logger.setLevel(level)
    assert heard == [other]
