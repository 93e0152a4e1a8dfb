"""YAML configs with command-line overrides; manifests never carry secrets; the console command."""

from __future__ import annotations

import pytest
from transformers import TrainingArguments

from evaluation.score import ScoreArguments
from famous_persona.cli import main as cli_main
from famous_persona.config import parse_config
from famous_persona.errors import DataError
from famous_persona.manifest import redact, write_manifest
from sampling.world.synthetic import WorldConfig


def test_yaml_then_command_line(tmp_path):
    config = tmp_path / "world.yaml"
    config.write_text("people: 12\nseed: 5\n")
    (world,) = parse_config([WorldConfig], ["--config", str(config), "--seed", "9"])
    assert world.people == 12 and world.seed == 9 and world.axes == WorldConfig().axes


def yaml_error(tmp_path, text: str | bytes, *args: str, types=(WorldConfig,)) -> str:
    config = tmp_path / "bad.yaml"
    config.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(DataError) as caught:
        parse_config(list(types), ["--config", str(config), *args])
    return str(caught.value).removeprefix(str(config))


def test_unknown_yaml_key_names_the_file_and_line(tmp_path):
    assert yaml_error(tmp_path, "people: 12\npeeple: 12\n").startswith(":2: unknown key(s) ['peeple']")


def test_unparsable_yaml_names_the_line(tmp_path):
    assert yaml_error(tmp_path, "people: 3\nseed: [1, 2\n").startswith(":3: not valid YAML")
    assert yaml_error(tmp_path, b"out: caf\xe9\n").startswith(":1: not UTF-8 text")
    assert "expected a mapping" in yaml_error(tmp_path, "- people: 3\n")


def test_a_yaml_value_of_the_wrong_type_names_line_and_field(tmp_path):
    assert yaml_error(tmp_path, "people: 3\nseed: [1, 2]\n") == ":2: seed: expected an integer, got [1, 2]"
    assert yaml_error(tmp_path, "label_noise: high\n") == ":1: label_noise: expected a number, got 'high'"
    assert "expected true or false" in yaml_error(tmp_path, "use_cpu: 3\n", types=(TrainingArguments,))
    assert "expected one of" in yaml_error(tmp_path, "eval_strategy: daily\n", types=(TrainingArguments,))


def test_yaml_values_argparse_would_convert_still_work(tmp_path):
    config = tmp_path / "ok.yaml"
    config.write_text("people: '12'\nlabel_noise: 0\n")
    (world,) = parse_config([WorldConfig], ["--config", str(config)])
    assert world.people == 12 and world.label_noise == 0


@pytest.mark.parametrize(
    ("types", "args", "field"),
    [
        (
            (ScoreArguments,),
            ["--model", "m", "--data", "d", "--test_method", "t", "--out", "o", "--batch_size", "0"],
            "batch_size",
        ),
        (
            (TrainingArguments,),
            ["--output_dir", "o", "--per_device_train_batch_size", "0"],
            "per_device_train_batch_size",
        ),
        (
            (TrainingArguments,),
            ["--output_dir", "o", "--gradient_accumulation_steps", "0"],
            "gradient_accumulation_steps",
        ),
    ],
)
def test_a_zero_count_is_refused_at_load(types, args, field):
    with pytest.raises(DataError, match=f"command line: {field}: must be at least 1, got 0"):
        parse_config(list(types), args)


def test_a_zero_count_in_yaml_names_its_line(tmp_path):
    assert yaml_error(tmp_path, "output_dir: o\n\nper_device_train_batch_size: 0\n", types=(TrainingArguments,)) == (
        ":3: per_device_train_batch_size: must be at least 1, got 0"
    )


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as caught:
        cli_main(["world", "--seed", "abc"])
    err = capsys.readouterr().err
    assert caught.value.code == 2 and err.count("\n") == 1
    assert err.startswith("error: famous-persona world: argument --seed: invalid int value: 'abc'")
    with pytest.raises(DataError, match=r"unknown option\(s\) \['--peeple', '3'\]"):
        parse_config([WorldConfig], ["--peeple", "3"])


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
