"""The report from a hand-made dump: sections, skipped figures, and a headless Chromium load with every image."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from analysis import plots
from analysis.aggregate import read_results
from analysis.report import ReportArguments, build_report
from famous_persona.errors import DataError
from famous_persona.io import write_json, write_jsonl

RUNS = [
    ("persona_gold", "persona_gold", 0),
    ("persona_gold", "shuffle_persona_gold", 0),
    ("no_prefix", "no_prefix", 0),
    ("persona_gold", "persona_gold", 1),
    ("none", "persona_gold", -1),
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _dump(root: Path, world, runs=RUNS) -> Path:
    """Scores for every test pair of the world; fold-0 people are unseen; accuracy depends on the run."""
    rng = np.random.default_rng(0)
    folds = {p.name: p.fold for p in world.personas()}
    tests = [p for p in world.pairs() if p.split == "test"]
    for index, (train, test, fold) in enumerate(runs):
        rows = []
        for pair in tests:
            margin = rng.normal(0.3 * (index % 2), 1.0)
            rows.append(
                {
                    "id": pair.id,
                    "name": pair.name,
                    "question_type": pair.question_type,
                    "seen": fold >= 0 and folds[pair.name] != fold,
                    "fold": fold,
                    "chosen_logp": margin,
                    "chosen_tokens": 1,
                    "rejected_logp": 0.0,
                    "rejected_tokens": 1,
                }
            )
        out = root / "tiny" / train / f"fold{fold}" / "eval" / test
        write_jsonl(out / "scores.jsonl", rows)
        write_json(
            out / "summary.json",
            {
                "experiment": root.name,
                "model": "tiny",
                "train_method": train,
                "test_method": test,
                "fold": fold,
                "beta": 0.1,
            },
        )
    attribution = {"pairs": 2, "skipped": 0, "correct": {"pairs": 1, "r2": 0.5}, "wrong": {"pairs": 1, "r2": 0.1}}
    write_json(root / "tiny" / "persona_gold" / "fold0" / "attribution" / "persona_gold" / "summary.json", attribution)
    return root


def _chromium() -> str:
    """The browser `make test` installs; without it the check is skipped here and fails in CI, where it must run."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "no chromium on PATH (`make test` installs it with apt-get where it can)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the browser check")
    pytest.skip(reason)


def _open(page: Path) -> tuple[str, str]:
    """The DOM after load (5 s of virtual time) and the browser's log."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                _chromium(),
                *FLAGS,
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=5000",
                "--dump-dom",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    return done.stdout, done.stderr


def test_report_opens_with_every_image(world, tmp_path):
    experiment = _dump(tmp_path / "exp", world)
    page = build_report(ReportArguments(experiment_dir=str(experiment), data=str(world.root), n_boot=200))
    text = page.read_text()
    for section in (
        "Main table",
        "Total accuracy by prefix",
        "Fine-tuned vs prompt-only",
        "Faithfulness",
        "Bias",
        "Dataset statistics",
        "Attribution",
    ):
        assert section in text
    images = re.findall(r'<img src="([^"]+)"', text)
    assert len(images) == 4 and all((page.parent / src).is_file() for src in images)
    assert (experiment / "analysis" / "bias_tests.csv").is_file()
    assert (experiment / "analysis" / "dataset_leakage.csv").is_file()
    dom, log = _open(page)
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert 'data-images-loaded="all"' in body and 'data-image-count="4"' in body, body
    assert "data-error" not in body
    assert ":CONSOLE" not in log, [line for line in log.splitlines() if ":CONSOLE" in line]


def test_browser_check_catches_a_broken_image(world, tmp_path):
    experiment = _dump(tmp_path / "exp", world, RUNS[:1])
    page = build_report(ReportArguments(experiment_dir=str(experiment)))
    assert "Skipped: needs --data" in page.read_text()
    assert "Skipped: no model was tested with more than one prefix" in page.read_text()
    (page.parent / "figures" / "accuracy_by_prefix.png").unlink()
    body = re.search(r"<body[^>]*>", _open(page)[0]).group(0)
    assert 'data-images-loaded="missing"' in body and 'data-error="1"' in body


def test_missing_inputs(tmp_path, world):
    with pytest.raises(DataError, match="results.csv"):
        read_results(tmp_path)
    experiment = _dump(tmp_path / "exp", world, RUNS[:1])
    build_report(ReportArguments(experiment_dir=str(experiment)))
    results = read_results(experiment)
    with pytest.raises(plots.Skip, match="prompt-only"):
        plots.tuned_vs_prompt(results, tmp_path / "x.png")
    (tmp_path / "exp" / "results.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="expected the columns"):
        read_results(tmp_path / "exp")
