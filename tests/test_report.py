"""The report from a hand-made dump: sections, skipped figures, and a headless Chromium load with every image."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from analysis.aggregate import collect, person_totals, read_results
from analysis.figures import accuracy, probes, registry, shots
from analysis.figures.style import kind, save_figure
from analysis.report import ReportArguments, build_report
from analysis.statistics import ROLES, prefix_role, role_prefix
from famous_persona.errors import DataError
from famous_persona.io import write_json, write_jsonl

RUNS = [
    ("persona_gold", "persona_gold", 0),
    ("persona_gold", "shuffle_persona_gold", 0),
    ("no_prefix", "no_prefix", 0),
    ("persona_gold", "persona_gold", 1),
    ("none", "persona_gold", -1),
    ("persona_gold", "persona_gold_seed1", 0),
    ("xyw_1s", "xyw_1s", 0),
    ("xyw_2s", "xyw_2s", 0),
    ("vpl", "no_prefix", 0),
]
FIGURES = [
    "accuracy_by_prefix",
    "per_person",
    "accuracy_by_shots",
    "tuned_vs_prompt",
    "faithfulness",
    "quality_by_shots",
    "training_curves",
    "bias_groups",
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
    "--window-size=1280,900",
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
        run = root / "tiny" / train / f"fold{fold}"
        out = run / "eval" / test
        write_jsonl(out / "scores.jsonl", rows)
        if train != "none":
            log = [{"step": s, "loss": 0.7 - s / 100, "rewards/margins": s / 50} for s in (10, 20)]
            write_jsonl(run / "train_log.jsonl", [*log, {"step": 20, "eval_rewards/accuracies": 0.6}])
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
    attribution = {"test_method": "persona_gold", "correct": {"pairs": 1, "r2": 0.5}, "wrong": {"pairs": 1, "r2": 0.1}}
    out = root / "tiny" / "persona_gold" / "fold0" / "attribution" / "persona_gold"
    write_json(out / "summary.json", attribution)
    example = {"id": tests[0].id, "full_margin": 0.4, "correct": True, "r2": 0.5, "weights": [0.3, -0.1, 0.0]}
    write_jsonl(out / "weights.jsonl", [{**example, "sentences": ["Likes tea. ", "Hates <noise>. ", "Lives."]}])
    quality = [
        {"method": f"persona_xy_{k}s", "name": p.name, "rouge_l": 0.1 * k, "embedding_cosine": 0.2 * k}
        for k in (1, 2)
        for p in world.personas()
    ]
    (root / "analysis").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(quality).to_csv(root / "analysis" / "persona_quality.csv", index=False)
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


@pytest.mark.slow
def test_report_opens_with_every_image(world, tmp_path):
    experiment = _dump(tmp_path / "exp", world)
    page = build_report(ReportArguments(experiment_dir=str(experiment), data=str(world.root), n_boot=200))
    text = page.read_text()
    sections = ("Main table", "Bias", "Dataset statistics", "Attribution", "group sizes", "marked per prefix")
    for section in sections:
        assert section in text
    assert "Skipped" not in text and "No attribution" not in text
    images = re.findall(r'<img src="figures/([^"]+).png"', text)
    assert images == FIGURES and all((page.parent / "figures" / f"{src}.png").is_file() for src in images)
    assert text.count("class=example") == 1 and "rgba(44, 160, 44, 0.72)" in text and "&lt;noise&gt;" in text
    assert (experiment / "analysis" / "bias_tests.csv").is_file()
    assert (experiment / "analysis" / "dataset_leakage.csv").is_file()
    dom, log = _open(page)
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert 'data-images-loaded="all"' in body and f'data-image-count="{len(FIGURES)}"' in body, body
    assert 'data-overflow="none"' in body, body
    assert "data-error" not in body
    assert ":CONSOLE" not in log, [line for line in log.splitlines() if ":CONSOLE" in line]


@pytest.mark.slow
def test_browser_check_catches_a_broken_image(world, tmp_path):
    experiment = _dump(tmp_path / "exp", world, RUNS[:1])
    (experiment / "analysis" / "persona_quality.csv").unlink()
    page = build_report(ReportArguments(experiment_dir=str(experiment)))
    assert "Skipped: needs --data" in page.read_text()
    text = page.read_text()
    for skipped in ("tested with a re-sampled", "fewer than two shot counts", "persona-quality"):
        assert skipped in text
    (page.parent / "figures" / "accuracy_by_prefix.png").unlink()
    page.write_text(text.replace("</body>", "<div style='width: 3000px'>wide</div></body>"))
    body = re.search(r"<body[^>]*>", _open(page)[0]).group(0)
    assert 'data-images-loaded="missing"' in body and 'data-error="1"' in body
    assert re.search(r'data-overflow="\d+"', body), body


@pytest.mark.slow
def test_missing_inputs(tmp_path, world):
    with pytest.raises(DataError, match="results.csv"):
        read_results(tmp_path)
    experiment = _dump(tmp_path / "exp", world, RUNS[:1])
    build_report(ReportArguments(experiment_dir=str(experiment)))
    results = read_results(experiment)
    with pytest.raises(registry.Skip, match="prompt-only"):
        probes.tuned_vs_prompt(results, tmp_path / "x.png")
    (tmp_path / "exp" / "results.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="expected the columns"):
        read_results(tmp_path / "exp")


def test_faithfulness_cells_use_only_the_probed_folds(world, tmp_path):
    results = collect(_dump(tmp_path / "exp", world))
    grid = probes.faithfulness_grid(results)
    assert list(grid["train_method"].unique()) == ["persona_gold"] and set(grid["folds"]) == {"0"}
    seen = grid[grid["seen"]].iloc[0]
    totals = person_totals(results)
    own = totals[(totals["test_method"] == "persona_gold") & (totals["fold"] == 0) & totals["seen"]]
    assert seen["own"] == pytest.approx(own[own["train_method"] == "persona_gold"]["Total"].mean())
    assert not np.isnan(seen["re-sampled"]) and not np.isnan(seen["another person's"])
    assert np.isnan(seen["none"])


def test_kinds_and_probes_come_from_the_method_grammar():
    assert [kind(m) for m in ("no_prefix", "tag", "name", "xyw_2s", "persona_gold")] == [
        "none",
        "passive",
        "named",
        "passive",
        "active",
    ]
    assert kind("vpl") == "latent" and kind("shuffle_xyw_2s") == "control"
    assert kind("xyw_2s+persona_gold") == "mixed"
    roles = [prefix_role("xyw_2s", t) for t in ("xyw_2s", "xyw_2s_seed1", "shuffle_xyw_2s", "no_prefix", "name")]
    assert roles == ["own", "re-sampled", "another person's", "none", None]
    assert prefix_role("vpl", "no_prefix") is None
    named = [role for role in ROLES if role != "re-sampled"]
    assert [prefix_role("xyw_2s", role_prefix("xyw_2s", role)) for role in named] == named


def test_one_row_of_panels_per_base_model_with_vpl_beside_the_prefixes(world, tmp_path):
    results = collect(_dump(tmp_path / "exp", world))
    both = pd.concat([results, results.assign(model="other")], ignore_index=True)
    own = accuracy.own_prefix(both, "ref_free_avg")
    assert accuracy.panel_rows(own) == [
        ("other", "fine-tuned"),
        ("other", "prompt-only"),
        ("tiny", "fine-tuned"),
        ("tiny", "prompt-only"),
    ]
    tuned = set(own.loc[own["setting"] == "fine-tuned", "prefix"])
    assert tuned == {"persona_gold", "no_prefix", "xyw_1s", "xyw_2s", "vpl"}
    assert "accuracy per shot count" in shots.accuracy_by_shots(both, tmp_path / "shots.png").lower()


def _toy(results: pd.DataFrame, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    save_figure(fig, path)
    return f"A toy drawn from {len(results)} rows."


@pytest.fixture
def scratch_registry(monkeypatch):
    """The real figures in a copy of the registry, so a test's own figures leave with it."""
    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))
    return registry


@pytest.mark.slow
def test_a_registered_figure_reaches_the_report_in_its_section(world, tmp_path, scratch_registry):
    scratch_registry.register(registry.Figure("toy", "A toy figure", _toy, ("results",), "accuracy"))
    scratch_registry.register(registry.Figure("toy_bias", "A toy of the bias", _toy, ("bias_groups",), "training"))
    experiment = _dump(tmp_path / "exp", world, RUNS[:3])
    text = build_report(ReportArguments(experiment_dir=str(experiment), n_boot=20)).read_text()
    toy = text.index("<h2>A toy figure</h2>")
    assert text.index("<h2>Faithfulness:") < toy < text.index("<h2>Persona quality")
    assert '<img src="figures/toy.png" alt="A toy figure">' in text and "A toy drawn from" in text
    assert (experiment / "report" / "figures" / "toy.png").is_file()
    assert "Skipped: needs analysis.bias&#x27;s mean improvement per group." in text


def test_the_registry_refuses_what_no_page_can_draw(scratch_registry):
    with pytest.raises(ValueError, match="unknown section"):
        scratch_registry.register(registry.Figure("toy", "Toy", _toy, ("results",), "appendix"))
    with pytest.raises(ValueError, match="unknown inputs"):
        scratch_registry.register(registry.Figure("toy", "Toy", _toy, ("tables",), "accuracy"))
    with pytest.raises(ValueError, match="title names"):
        scratch_registry.register(registry.Figure("toy", "Toy {behaviour}", _toy, ("results",), "accuracy"))
    with pytest.raises(ValueError, match="already registered"):
        scratch_registry.register(registry.Figure("faithfulness", "Again", _toy, ("results",), "bias"))
    assert {("report", "faithfulness"), ("claims", "faithfulness")} <= set(scratch_registry.REGISTRY)
