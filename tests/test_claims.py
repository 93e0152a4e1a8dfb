"""experiments/claims.sh: help, and a smoke run end to end whose report states each claim with its interval."""

from __future__ import annotations

import json

import pytest

from tests.test_scripts import run


def test_claims_script_has_help():
    done = run("claims.sh", "--help")
    assert done.returncode == 0 and "usage" in done.stdout and "--levels" in done.stdout


@pytest.mark.slow
def test_claims_smoke_runs_end_to_end(tmp_path):
    out = tmp_path / "claims"
    done = run("claims.sh", "--smoke", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    claims = json.loads((out / "report" / "claims.json").read_text())
    slope = claims["generalization"]["effect"]
    assert slope["ci_low"] <= slope["effect"] <= slope["ci_high"]
    assert len(claims["generalization"]["levels"]) == 5
    assert set(claims["generalization"]["references"]) == {"no_prefix", "xyw_2s"}
    gaps = {(r["train_method"], r["seen"], r["gap"]) for r in claims["faithfulness"]["table"]}
    assert ("persona_r100p100", False, "own - another's") in gaps and ("persona_r25p100", True, "own - none") in gaps
    assert set(claims["bias"]["gaps"]) == {"no_prefix", "xyw_2s", "persona_r100p100"}
    page = (out / "report" / "claims.html").read_text()
    for figure in ("generalization.png", "faithfulness.png", "bias.png"):
        assert (out / "report" / figure).is_file() and figure in page
    for claim in ("generalization", "faithfulness", "bias"):
        assert claims[claim]["sentence"].split(":")[0] in {
            "Held",
            "Held in part",
            "Reversed",
            "Not shown",
            "Not testable",
        }
