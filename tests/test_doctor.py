"""`famous-persona doctor` on this GPU-less machine (once as its own process, as a user runs it, then in this one), and
on simulated GPU boxes (torch and the hub patched): its lines, its summary, its exit status, and that a token is never
printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from huggingface_hub import constants as hub_constants
from huggingface_hub.errors import GatedRepoError

from famous_persona import doctor

ROOT = Path(__file__).resolve().parents[1]
SECRET = "hf_doctorTestTokenThatMustNeverBePrinted"
GATED = {"meta-llama/Llama-3.2-1B-Instruct", "meta-llama/Llama-3.2-3B-Instruct", "mistralai/Ministral-8B-Instruct-2410"}


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "famous_persona.cli", "doctor", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _names(lines: list[str]) -> list[str]:
    return [line[5:].split(":", 1)[0] for line in lines]


def _run(capsys, *args: str) -> tuple[int, list[str]]:
    """The doctor in this process: its exit status and the lines it printed."""
    with pytest.raises(SystemExit) as stopped:
        doctor.main(list(args))
    return stopped.value.code, capsys.readouterr().out.splitlines()


@pytest.mark.slow
def test_here_it_says_what_a_gpu_run_lacks():
    done = _cli()
    lines = done.stdout.splitlines()
    assert done.returncode == 1, done.stderr
    assert lines[0].startswith("fail gpu: none visible to torch")
    assert lines[-1].startswith("doctor: ") and "would fail a GPU run: gpu" in lines[-1]
    names = _names(lines[:-1])
    for expected in ("gpu", "bf16", "torch", "libraries", "bitsandbytes", "hub", "token", "disk"):
        assert names.count(expected) == 1, expected
    assert {"model llama321b", "model zephyr7b", "model smollm2"} <= set(names)
    assert "info hub: HF_HUB_OFFLINE is set" in done.stdout
    assert all(line.split(" ", 1)[0] in {"ok", "info", "warn", "fail"} for line in lines[:-1])


def test_json_holds_the_same_checks(capsys):
    code, lines = _run(capsys, "--json", "true", "--models", "smollm2")
    report = json.loads("\n".join(lines))
    assert code == 1 and report["ready"] is False
    assert [check["name"] for check in report["checks"]][0] == "gpu" and report["checks"][0]["data"] == {"count": 0}
    assert "model smollm2" in [check["name"] for check in report["checks"]]
    assert report["summary"].startswith("doctor: ")


def test_an_unknown_recipe_is_one_error_line(capsys):
    with pytest.raises(SystemExit) as stopped:
        doctor.main(["--models", "nonesuch"])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.startswith("error: command line: --models nonesuch")
    assert err.count("\n") == 1


class FakeHub:
    """The hub's answers without a network: which models are gated, and which ones the token may read."""

    readable: set[str] = set()

    def model_info(self, model: str, **kwargs):
        return SimpleNamespace(gated="manual" if model in GATED else False)

    def auth_check(self, model: str, **kwargs):
        if model not in self.readable:
            response = SimpleNamespace(headers={}, request=None)
            raise GatedRepoError("no access", response=response)


@pytest.fixture
def gpu_box(monkeypatch, tmp_path):
    """Two bf16 GPUs, a CUDA torch, bitsandbytes, an online hub, an empty model cache, no token, 500 GiB free."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: SimpleNamespace(free=500 * doctor.GIB))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    card = SimpleNamespace(name="NVIDIA H100 80GB HBM3", total_memory=80 * doctor.GIB)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: card)
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    real_version = doctor.version
    monkeypatch.setattr(doctor, "version", lambda name: "0.45.0" if name == "bitsandbytes" else real_version(name))
    monkeypatch.setattr(doctor, "is_offline_mode", lambda: False)
    monkeypatch.setattr(doctor, "HfApi", FakeHub)
    monkeypatch.setattr(doctor, "get_token", lambda: None)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(FakeHub, "readable", set())
    return monkeypatch


def test_a_gated_model_without_a_token_fails_and_says_why(gpu_box, capsys):
    code, lines = _run(capsys, "--models", "llama321b", "zephyr7b")
    assert code == 1
    assert "ok   gpu: 2 (0: NVIDIA H100 80GB HBM3 80.0 GiB, 1: NVIDIA H100 80GB HBM3 80.0 GiB)" in lines
    assert "ok   bf16: supported (dtype auto trains and scores in bfloat16)" in lines
    assert any(line.startswith("ok   torch: ") and "CUDA 12.4" in line for line in lines)
    assert "warn token: none configured: gated models cannot be downloaded" in lines
    assert any(line.startswith("fail model llama321b:") and "no token is configured" in line for line in lines)
    assert "ok   model zephyr7b: HuggingFaceH4/zephyr-7b-beta not on disk; it will be downloaded" in lines
    assert lines[-1] == "doctor: 1 problem(s) would fail a GPU run: model llama321b"


def test_a_token_without_access_fails_and_is_never_printed(gpu_box, capsys):
    gpu_box.setattr(doctor, "get_token", lambda: SECRET)
    gpu_box.setenv("HF_TOKEN", SECRET)
    FakeHub.readable = {"meta-llama/Llama-3.2-1B-Instruct"}
    code, lines = _run(capsys, "--models", "llama321b", "ministral8b")
    text = "\n".join(lines)
    assert code == 1 and SECRET not in text
    assert "ok   token: configured (from HF_TOKEN)" in lines
    assert any(line.startswith("ok   model llama321b:") for line in lines)
    assert any(
        line.startswith("fail model ministral8b:") and "has no access (GatedRepoError)" in line for line in lines
    )


def test_a_ready_box_exits_zero(gpu_box, capsys, tmp_path):
    snapshot = tmp_path / "hub" / "models--HuggingFaceH4--zephyr-7b-beta" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (snapshot / "model.safetensors").write_bytes(b"0" * 1024)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc123")
    code, lines = _run(capsys, "--models", "zephyr7b", "smollm2", "--min_free_gb", "0")
    assert code == 0, lines
    assert any(line.startswith("ok   model zephyr7b: HuggingFaceH4/zephyr-7b-beta on disk") for line in lines)
    assert lines[-1].startswith("doctor: ready for a GPU run")


def test_weights_missing_from_the_cache_do_not_count(gpu_box, tmp_path):
    snapshot = tmp_path / "hub" / "models--HuggingFaceH4--zephyr-7b-beta" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc123")
    assert doctor.cached_snapshot("HuggingFaceH4/zephyr-7b-beta") is None


def test_little_free_disk_fails(gpu_box, capsys):
    code, lines = _run(capsys, "--models", "smollm2", "--min_free_gb", "1e9")
    assert code == 1 and any(line.startswith("fail disk: ") for line in lines)
    assert lines[-1] == "doctor: 1 problem(s) would fail a GPU run: disk"


def test_bf16_less_gpu_and_missing_bitsandbytes(gpu_box, capsys):
    gpu_box.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    gpu_box.setattr(doctor, "version", lambda name: None if name == "bitsandbytes" else "1.0")
    code, lines = _run(capsys, "--models", "zephyr7b", "--min_free_gb", "0")
    assert code == 1
    assert any(line.startswith("warn bf16: not supported by this GPU") for line in lines)
    assert "fail bitsandbytes: not installed, and zephyr7b load in 4 bit (pip install bitsandbytes)" in lines
