"""Credentials reach no file, log or message: not a hub token (not even in the pickled training arguments), not the
user part of a server URL, not a key pasted as a variable name, not any credential value the process knows."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import pytest
import torch
from trl import DPOConfig, ModelConfig

from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import read_json, write_json, write_jsonl
from famous_persona.llm.backend import Completion, FatalRequestError, Tally, make_request
from famous_persona.llm.cache import RequestCache, run_cached
from famous_persona.llm.config import BackendConfig
from famous_persona.llm.openai_backend import OpenAIBackend, RetryPolicy
from famous_persona.manifest import redact, write_manifest
from famous_persona.redaction import looks_like_key, register, scrub
from sampling.generation import generate
from tests.support.generation import SECRET, files_containing, small_args
from tests.support.scripted_server import ScriptedServer
from tests.support.world import CPU_TRAINING
from training import dpo
from training.run_data import RunArguments

HUB_TOKEN = "hf_FAKEfake0123456789tokenNOTREAL"
URL_PASSWORD = "pw-9f8e7d6c5b4a"
PASTED_KEY = "sk-proj-PASTEDpasted0123456789"


def _with_userinfo(base_url: str) -> str:
    return base_url.replace("http://", f"http://alice:{URL_PASSWORD}@")


def test_url_credentials_are_redacted_in_manifests(tmp_path):
    config = {"sampler_base_url": f"http://alice:{URL_PASSWORD}@gpu-box:8000/v1", "note": "https://bob@host/x"}
    redacted = redact(config)
    assert redacted["sampler_base_url"] == "http://<redacted>@gpu-box:8000/v1"
    assert "bob" not in redacted["note"]
    write_manifest(tmp_path / "manifest.json", stage="test", config={}, endpoint=config["sampler_base_url"])
    assert URL_PASSWORD not in (tmp_path / "manifest.json").read_text()


def test_known_credential_values_are_scrubbed_whatever_the_field(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    register(HUB_TOKEN)
    leaky = {"comment": f"key was {SECRET}", "rows": [{"text": f"token {HUB_TOKEN}"}]}
    assert SECRET not in str(redact(leaky)) and HUB_TOKEN not in str(redact(leaky))
    write_json(tmp_path / "report.json", leaky)
    write_jsonl(tmp_path / "rows.jsonl", leaky["rows"])
    cache = RequestCache(tmp_path / "cache.sqlite")
    cache.put("k", "m", Completion(f"echo {SECRET}", "stop", 3, 2))
    cache.close()
    with sqlite3.connect(tmp_path / "cache.sqlite") as db:
        db.execute("PRAGMA wal_checkpoint(FULL)")
    assert files_containing(tmp_path, SECRET) == [] and files_containing(tmp_path, HUB_TOKEN) == []
    assert read_json(tmp_path / "report.json")["comment"] == "key was <redacted>"


def test_error_messages_and_logs_are_scrubbed(monkeypatch, capsys, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)

    @exit_on_data_error
    def fails() -> None:
        logging.getLogger("famous_persona.test").warning("talking to %s with %s", f"http://u:{URL_PASSWORD}@h", SECRET)
        raise DataError(f"bad value {SECRET} for http://u:{URL_PASSWORD}@h/v1")

    with caplog.at_level(logging.WARNING), pytest.raises(SystemExit) as stop:
        fails()
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "<redacted>" in err and SECRET not in err and URL_PASSWORD not in err
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "talking to" in logged and SECRET not in logged and URL_PASSWORD not in logged


def test_a_refused_request_does_not_show_the_url_credentials(tmp_path):
    server = ScriptedServer(api_key=SECRET).start()
    backend = OpenAIBackend(_with_userinfo(server.base_url), policy=RetryPolicy(max_retries=0))
    request = [make_request("r", "m", [("user", "anything")], {})]
    with pytest.raises(FatalRequestError) as refused:
        asyncio.run(run_cached(request, backend, RequestCache(tmp_path / "cache.sqlite"), Tally()))
    server.shutdown()
    assert "refused the credentials" in str(refused.value) and URL_PASSWORD not in str(refused.value)


def test_generation_with_credentials_in_the_url_writes_none_of_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server = ScriptedServer(api_key=SECRET).start()
    args = small_args(tmp_path / "data", _with_userinfo(server.base_url), tmp_path / "no-reward-model")
    with pytest.raises(SystemExit) as stop:
        generate.main([*args, "--stages", "personas", "questions"])
    server.shutdown()
    assert stop.value.code == 2, "a URL whose credentials the server refuses stops the run"
    err = capsys.readouterr().err
    assert "refused the credentials" in err and URL_PASSWORD not in err
    assert (tmp_path / "data" / "manifest.json").is_file()
    assert files_containing(tmp_path, URL_PASSWORD) == []


@pytest.mark.parametrize(
    "name, refused",
    [
        (PASTED_KEY, True),
        ("hf_abcdEFGH1234", True),
        ("e3f9a0c7d1e2b4a5968c7d0e1f2a3b4c", True),
        ("OPENAI_API_KEY", False),
        ("my_local_server_key_v2_2024", False),
    ],
)
def test_a_key_pasted_as_the_variable_name_is_refused_without_echoing_it(name, refused, capsys):
    assert looks_like_key(name) is refused
    if not refused:
        BackendConfig(model="m", api_key_env=name)
        return
    with pytest.raises(DataError) as error:
        BackendConfig(model="m", api_key_env=name)
    assert "looks like an API key" in str(error.value) and name not in str(error.value)
    with pytest.raises(SystemExit) as stop:
        generate.main(["--api_key_env", name, "--dry_run", "true"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "looks like an API key" in err and name not in err


def test_scrub_leaves_plain_text_alone():
    text = "max_tokens 512; see https://example.org/a@b and mail me@example.org"
    assert scrub(text) == text


def test_the_hub_token_is_in_no_file_of_the_run(world, tiny_model, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    run_dir = tmp_path / "run"
    config = DPOConfig(
        output_dir=str(run_dir),
        hub_token=HUB_TOKEN,
        num_train_epochs=1,
        per_device_train_batch_size=8,
        max_length=256,
        save_strategy="steps",
        save_steps=1,
        max_steps=2,
        **CPU_TRAINING,
    )
    monkeypatch.setattr("training.common.shutil.rmtree", lambda *args, **kwargs: None)
    dpo.train(
        RunArguments(data=str(world.root), method="xyw_2s", fold=0, val_fraction=0),
        config,
        ModelConfig(model_name_or_path=str(tiny_model)),
    )
    saved = sorted(run_dir.rglob("training_args.bin"))
    assert len(saved) >= 3, "the model and every checkpoint keep their training arguments"
    for path in saved:
        assert torch.load(path, weights_only=False).hub_token is None, path
    assert files_containing(run_dir, HUB_TOKEN) == []
    assert read_json(run_dir / "manifest.json")["status"] == "finished"
