"""Every bad input of the corpus (tests/support/bad_inputs.py) stops with one line and exit status 2, never a
traceback; a model that is not there is named before any loading starts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from famous_persona import models
from famous_persona.errors import DataError
from tests.support.bad_inputs import CASES, run_case


def test_the_corpus_spans_every_stage():
    assert len(CASES) >= 30
    assert {case.stage for case in CASES} == {"sampling", "training", "evaluation", "analysis"}
    assert len({case.name for case in CASES}) == len(CASES)


def test_every_bad_input_is_one_line_and_exit_2(world, tiny_model, tmp_path):
    wrong = []
    for case in CASES:
        outcome = run_case(case, world.root, tiny_model, tmp_path)
        lines = outcome.stderr.strip().splitlines()
        if outcome.code != 2 or len(lines) != 1 or not lines[0].startswith("error: ") or "Traceback" in outcome.stderr:
            wrong.append(f"{case.name}: exit {outcome.code}, stderr {outcome.stderr[-400:]!r}")
    assert not wrong, "\n".join(wrong)


def test_a_stage_module_run_alone_prints_one_line(tmp_path):
    config = tmp_path / "world.yaml"
    config.write_text("people: 4\nseed: [1, 2]\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "sampling.world.synthetic", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stderr == f"error: {config}:2: seed: expected an integer, got [1, 2]\n"


def test_a_folder_without_a_model_is_named(tmp_path):
    (tmp_path / "notes.txt").write_text("weights to come\n", encoding="utf-8")
    with pytest.raises(DataError, match="not a model folder"):
        models.check_model_source(tmp_path)
    with pytest.raises(DataError, match="no such model folder"):
        models.check_model_source(tmp_path / "dump" / "run" / "model")


def test_a_hub_id_offline_and_not_cached_is_named_at_once(monkeypatch):
    monkeypatch.setattr(models, "is_offline_mode", lambda: True)
    with pytest.raises(DataError, match="HF_HUB_OFFLINE is set"):
        models.load_tokenizer("nobody/no-such-model")
    monkeypatch.setattr(models, "try_to_load_from_cache", lambda repo, file: f"/cache/{repo}/{file}")
    models.check_model_source("someone/cached-model")


def test_a_real_model_folder_passes(tiny_model):
    models.check_model_source(tiny_model)
