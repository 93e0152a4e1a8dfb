"""YAML configs with command-line overrides; manifests never carry secrets; the console command."""

from __future__ import annotations

import pytest

from famous_persona.cli import main as cli_main
from famous_persona.config import parse_config
from famous_persona.manifest import redact, write_manifest
from sampling.world.synthetic import WorldConfig


def test_yaml_then_command_line(tmp_path):
    config = tmp_path / "world.yaml"
    config.write_text("people: 12\nseed: 5\n")
    (world,) = parse_config([WorldConfig], ["--config", str(config), "--seed", "9"])
    assert world.people == 12 and world.seed == 9 and world.axes == WorldConfig().axes


def test_unknown_yaml_key_names_the_file(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("peeple: 12\n")
    with pytest.raises(SystemExit):
        parse_config([WorldConfig], ["--config", str(config)])
    err = capsys.readouterr().err
    assert str(config) in err and "peeple" in err


def test_secrets_never_reach_a_manifest(tmp_path, monkeypatch):
    secret = "sk-test-123456"
    config = {"api_key": secret, "nested": {"auth_token": secret}, "model": "m", "list": [{"password": secret}]}
    assert secret not in str(redact(config))
    assert secret not in str(redact({"hub_token": secret, "apiKey": secret, "openai-api-key": secret}))
    counts = {"max_tokens": 512, "prompt_tokens": 7, "api_key_env": None}
    assert redact(counts) == counts, "token counts are not credentials"
    write_manifest(tmp_path / "manifest.json", stage="test", config=config)
    assert secret not in (tmp_path / "manifest.json").read_text()


def test_console_command_lists_stages_and_runs_one(capsys, tmp_path):
    with pytest.raises(SystemExit) as caught:
        cli_main(["--help"])
    assert caught.value.code == 0 and "train" in capsys.readouterr().out
    cli_main(["world", "--out", str(tmp_path / "w"), "--people", "5", "--axes", "2", "--divergent_per_person", "4"])
    assert (tmp_path / "w" / "pairs.jsonl").is_file()
