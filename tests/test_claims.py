"""experiments/claims.sh answers --help (its smoke run takes about 15 minutes on 2 cores: CI leaves it out)."""

from __future__ import annotations

from tests.test_scripts import run


def test_claims_script_has_help():
    done = run("claims.sh", "--help")
    assert done.returncode == 0 and "usage" in done.stdout and "--levels" in done.stdout
