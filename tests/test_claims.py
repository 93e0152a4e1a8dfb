"""experiments/claims.sh: --help, and a smoke run end to end whose page has a section per claim and whose rerun
retrains and rescores nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_scripts import run

EFFECT = re.compile(r"([+-]\d+\.\d{3}) \[([+-]\d+\.\d{3}), ([+-]\d+\.\d{3})\]")
VERDICT = re.compile(r"<p><b>((?:Held|Held in part|Reversed|Not shown|Not testable): [^<]*\.)</b></p>")


def test_claims_script_has_help():
    done = run("claims.sh", "--help")
    assert done.returncode == 0 and "usage" in done.stdout and "--levels" in done.stdout


def _manifest_times(out: Path) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in out.rglob("manifest.json")}


@pytest.mark.slow
def test_smoke_run_reports_each_claim_and_a_rerun_is_a_no_op(tmp_path):
    out = tmp_path / "claims"
    done = run("claims.sh", "--smoke", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    report = out / "report"
    sections = (report / "claims.html").read_text().split("<h2>")[1:]
    assert [s.split("</h2>")[0][:2] for s in sections] == ["1.", "2.", "3."]
    for section in sections:
        figure = re.search(r"<img src='([^']+)'>", section).group(1)
        assert (report / figure).is_file()
        effects = EFFECT.findall(section)
        assert effects and all(float(low) <= float(high) for _, low, high in effects)
        verdict = VERDICT.search(section)
        assert verdict and ". " not in verdict.group(1)

    quality = _manifest_times(out / "quality" / "tiny")
    assert len(quality) == 3 * 2 + 7  # DPO and SFT per model; 3 scorings per persona model, 1 for no_prefix
    runs = _manifest_times(out)
    again = run("claims.sh", "--smoke", "--out", str(out))
    assert again.returncode == 0, again.stderr[-3000:]
    assert _manifest_times(out) == runs  # no training or scoring anywhere in the experiment was redone
    log = (out / "quality" / "tiny" / "dpo" / "no_prefix" / "fold0" / "run.log").read_text()
    assert "every step is done with its current key; skipping" in log
