"""experiments/claims.sh: --help, and a smoke run end to end whose page has a section per claim and whose rerun
retrains and rescores nothing; the claims page itself from hand-made results in a small planted world, opened in a
headless browser, and with a registered toy figure."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from analysis.aggregate import COLUMNS
from analysis.claims import ClaimsArguments, report, run_claims
from analysis.figures import registry
from analysis.figures.style import save_figure
from sampling.prefixes.build import write_prefixes
from sampling.world.synthetic import WorldConfig, make_world
from tests.test_report import _open
from tests.test_scripts import run

EFFECT = re.compile(r"([+-]\d+\.\d{3}) \[([+-]\d+\.\d{3}), ([+-]\d+\.\d{3})\]")
VERDICT = re.compile(r"<p class=verdict>((?:Held|Held in part|Reversed|Not shown|Not testable): [^<]*\.)</p>")
LEVELS = ("persona_r50p100", "persona_r100p100")
PLANTED = dict(
    people=12,
    axes=3,
    axes_per_person=2,
    folds=2,
    personal_per_person=4,
    divergent_per_person=8,
    divergent_per_axis=8,
    bias_strength=0.6,
    minority_share=0.34,
    seed=0,
)


def test_claims_script_has_help():
    done = run("claims.sh", "--help")
    assert done.returncode == 0 and "usage" in done.stdout and "--levels" in done.stdout


def _manifest_times(out: Path) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in out.rglob("manifest.json")}


def _check_page(page: Path) -> None:
    """A section per claim, in order, each with its figure beside the page, effects whose intervals are ordered, and
    one verdict sentence."""
    sections = page.read_text().split("<h2>")[1:]
    assert [s.split("</h2>")[0][:2] for s in sections] == ["1.", "2.", "3."]
    for section in sections:
        figure = re.search(r'<img src="([^"]+)"', section).group(1)
        assert (page.parent / figure).is_file()
        effects = EFFECT.findall(section)
        assert effects and all(float(low) <= float(high) for _, low, high in effects)
        verdict = VERDICT.search(section)
        assert verdict and ". " not in verdict.group(1)


@pytest.mark.slow
def test_smoke_run_reports_each_claim_and_a_rerun_is_a_no_op(tmp_path):
    out = tmp_path / "claims"
    done = run("claims.sh", "--smoke", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    _check_page(out / "report" / "claims.html")

    quality = _manifest_times(out / "quality" / "tiny")
    assert len(quality) == 3 * 2 + 7  # DPO and SFT per model; 3 scorings per persona model, 1 for no_prefix
    runs = _manifest_times(out)
    again = run("claims.sh", "--smoke", "--out", str(out))
    assert again.returncode == 0, again.stderr[-3000:]
    assert _manifest_times(out) == runs  # no training or scoring anywhere in the experiment was redone
    log = (out / "quality" / "tiny" / "dpo" / "no_prefix" / "fold0" / "run.log").read_text()
    assert "every step is done with its current key; skipping" in log


def _results(people: list, out: Path) -> Path:
    """results.csv of fold-0 models at both quality levels (own, another person's and no prefix), no_prefix, and
    prompt-only rows; fold-0 people are unseen."""
    runs = [("no_prefix", "no_prefix"), ("none", "no_prefix"), ("none", LEVELS[1])]
    runs += [(level, test) for level in LEVELS for test in (level, f"shuffle_{level}", "no_prefix")]
    rng = np.random.default_rng(7)
    rows = []
    for train, test in runs:
        fold, trainer = (-1, "none") if train == "none" else (0, "dpo")
        for person, question_type in itertools.product(people, ("personal", "divergent")):
            n = int(rng.integers(3, 7))
            correct = int(rng.integers(0, n + 1))
            run_part = [out.name, "tiny", trainer, train, test, fold, person.name, fold >= 0 and person.fold != 0]
            counts = [question_type, "ref_free_avg", n, correct, correct / n]
            rows.append([*run_part, *counts, "fold", "tiny", "0" * 12])
    out.mkdir(parents=True)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(out / "results.csv", index=False)
    return out


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> ClaimsArguments:
    """One small planted world serving all three claims, as with --smoke, and its claims computed."""
    root = tmp_path_factory.mktemp("planted")
    world = make_world(WorldConfig(out=str(root / "world"), **PLANTED))
    write_prefixes(world, LEVELS)
    experiment = str(_results(world.personas(), root / "experiment"))
    data = str(world.root)
    return ClaimsArguments(
        quality_dir=experiment,
        quality_data=data,
        planted_dir=experiment,
        planted_data=data,
        persona=LEVELS[1],
        out=str(root / "report"),
        n_boot=200,
    )


@pytest.mark.slow
def test_the_claims_page_shows_each_claim_from_its_results(planted):
    claims = run_claims(planted)
    page = Path(planted.out) / "claims.html"
    _check_page(page)
    body = re.search(r"<body[^>]*>", _open(page)[0]).group(0)
    assert 'data-images-loaded="all"' in body and 'data-image-count="3"' in body and "data-error" not in body, body
    assert [row["gap"] for row in claims["faithfulness"]["table"]][:2] == ["own - another's", "own - none"]
    assert set(claims["bias"]["gaps"]) == {"no_prefix", *LEVELS}


def _toy(claims: dict, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    save_figure(fig, path)
    return f"A toy of {len(claims)} claims."


@pytest.mark.slow
def test_a_registered_figure_reaches_the_claims_page(planted, tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))
    registry.register(registry.Figure("toy", "4. A toy claim", _toy, ("claims",), "claims"))
    text = report(run_claims(planted), tmp_path).read_text()
    assert text.index("<h2>3. Bias") < text.index("<h2>4. A toy claim</h2>")
    assert '<img src="toy.png" alt="4. A toy claim">' in text and "A toy of 3 claims." in text
    assert (tmp_path / "toy.png").is_file()
