"""The README's GPU section rehearsed on a CPU: its commands, read from the README and run as written on a dataset laid
out like the release, so the path a GPU box takes is known to work end to end (docs/gpu.md, "Rehearse on a CPU").

What differs, and only this: SmolLM2 (`--model smollm2`) stands in for the Llama recipe; training goes through
`accelerate launch` over two gloo processes (`--launch`, experiments/accelerate/cpu_2proc.yaml); the strong model
behind `persona_*_gpt4` is `transformers serve` hosting SmolLM2 on 127.0.0.1 (`--inference_models`: a copy of
experiments/configs/inference whose gpt4.yaml points there; the API key is a dummy); the hub id is a local folder made
by tests/support/hub_shaped.py, and the data and experiment folders are temporary. The size: five people (one a fold)
with five train pairs and two test pairs each (no validation slice), and `--smoke --folds 0 --max_train_pairs 2
--inference_set max_tokens=8`, and three of the paper's seven settings (`--methods`): none, a persona the served model
inferred, and a released one, each a path of its own (the other four differ from these only in their prefix file;
that a plan on real data has all seven is tests/test_planner.py's)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from sampling.generation.hub_import import HUB_ID
from tests.support import hub_shaped

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## The paper on a GPU box"
MODEL = "smollm2"
LAUNCH = "accelerate launch --config_file experiments/accelerate/cpu_2proc.yaml"
SIZE = ["--smoke", "--folds", "0", "--max_train_pairs", "2", "--inference_set", "max_tokens=8"]
TRAINED = ["no_prefix", "persona_xy_4s_gpt4", "persona_gold_gpt4-released"]
KINDS = ["doctor", "hub-import", "dry run", "run", "status", "report"]
REPORTED = ["Main table", "Paired contrasts", "Accuracy by prefix", "Per-person accuracy", "Training curves", "Bias",
            "Mean improvement per group", "Dataset statistics"]  # fmt: skip
"""The report's sections that a cv run on real data fills (the others need other plans or synthetic personas)."""


def readme_commands() -> list[list[str]]:
    """The command lines of the first bash block of the README's GPU section, each split into words, comments out."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split(SECTION, 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    assert "\\\n" not in block, "one command a line, so the test reads what a reader copies"
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def kind(words: list[str]) -> str:
    """Which of the section's commands a line is; a line the rehearsal does not know fails the test."""
    if words[:2] == ["bash", "experiments/cv.sh"]:
        return "dry run" if "--dry_run" in words else "run"
    if words[0] == "famous-persona" and words[1] in ("doctor", "hub-import", "status", "report"):
        return words[1]
    raise AssertionError(f"README.md: the GPU section has a command the rehearsal does not run: {shlex.join(words)}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Rehearsal:
    """Where the rehearsal's stand-ins live, and how a README command becomes the command it runs."""

    release: Path
    data: Path
    out: Path
    inference: Path

    def command(self, words: list[str]) -> list[str]:
        """The README's words with the local release for the hub id, temporary folders for the data and the
        experiment, and SmolLM2 for the recipe; the plan also gets the launcher, the inference models and the size."""
        swaps = {HUB_ID: str(self.release), "data/famous_persona_hub": str(self.data), "dump/cv": str(self.out)}
        words = [swaps.get(word, word) for word in words]
        if "--model" in words:
            words[words.index("--model") + 1] = MODEL
        if kind(words) in ("dry run", "run"):
            launch = f"{LAUNCH} --main_process_port {free_port()}"
            words += ["--out", str(self.out), "--launch", launch]
            words += ["--inference_models", str(self.inference), *SIZE, "--methods", *TRAINED]
        return words


def stand_in_models(folder: Path, base_url: str, model: str) -> Path:
    """The inference models as committed, but gpt4: the served SmolLM2 under the name it is served as, sampled as
    that server needs to be asked, two requests at a time for its one thread."""
    shutil.copytree(ROOT / "experiments" / "configs" / "inference", folder)
    settings = {"model": model, "backend": "openai", "base_url": base_url, "server": "transformers-serve",
                "concurrency": 2}  # fmt: skip
    (folder / "gpt4.yaml").write_text("".join(f"{key}: {value}\n" for key, value in settings.items()))
    return folder


def run(words: list[str]) -> subprocess.CompletedProcess:
    """A command as a reader runs it from the repository root with .venv activated: CPU only, offline, a dummy key."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "PATH": path, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    env["OPENAI_API_KEY"] = "rehearsal-not-a-key"
    return subprocess.run(words, cwd=ROOT, env=env, capture_output=True, text=True)


def check_doctor(done: subprocess.CompletedProcess) -> None:
    """Without a GPU the doctor says so and exits 1, naming what a GPU run would lack."""
    assert done.returncode == 1, done.stdout + done.stderr
    assert "fail gpu: none visible to torch" in done.stdout and "would fail a GPU run" in done.stdout


def check_plan(dry: subprocess.CompletedProcess) -> None:
    """The dry run lists one training run per setting given, all to do, and SmolLM2's conversion from its wheel."""
    trained = [line.split()[1] for line in dry.stdout.splitlines() if line.startswith("new") and "/score/" not in line]
    assert [name.split("/")[2] for name in trained if name.endswith("/dpo")] == TRAINED, dry.stdout
    assert "models/smollm2/fetch" in dry.stdout and "4 of 4 run(s) to do on 1 CPU worker(s)" in dry.stdout


def check_runs(rehearsal: Rehearsal, served: str) -> None:
    """The models trained, each by two processes on batches their rows fill, scored with its own prefix; the strong
    model's personas came from the served stand-in."""
    results = pd.read_csv(rehearsal.out / "results.csv")
    assert sorted(set(results["train_method"])) == sorted(TRAINED) == sorted(set(results["test_method"]))
    for method in TRAINED:
        manifest = json.loads((rehearsal.out / MODEL / "dpo" / method / "fold0" / "manifest.json").read_text())
        assert manifest["status"] == "finished" and manifest["processes"] == 2, method
        assert manifest["effective_batch"] == manifest["rows"]["train"], "a step holds each row once, not copies"
    inferred = rehearsal.data / "prefixes" / "persona_xy_4s_gpt4.jsonl"
    authors = {json.loads(line)["model"] for line in inferred.read_text().splitlines()}
    assert authors == {served}


def check_status(done: subprocess.CompletedProcess) -> None:
    """Every step of the plan is done (status exits 0 only then, and its last line counts the states)."""
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and re.fullmatch(r"\d+ done", lines[-1]), done.stdout


def check_report(rehearsal: Rehearsal) -> None:
    """Each section a cv run on real data fills has its table or figure, not a note saying why it is empty."""
    page = rehearsal.out / "report" / "index.html"
    sections = dict(part.split("</h2>", 1) for part in page.read_text().split("<h2>")[1:])
    for title in REPORTED:
        body = next((body for head, body in sections.items() if head.startswith(title)), None)
        assert body is not None, f"no section {title!r}: {list(sections)}"
        assert "class=note" not in body and ("<table" in body or "<img" in body), title
        for image in re.findall(r'<img src="([^"]+)"', body):
            assert (page.parent / image).is_file(), image


@pytest.mark.slow
def test_the_readme_gpu_section_runs_as_written_on_a_cpu(real_server, tmp_path):
    rehearsal = Rehearsal(tmp_path / "release", tmp_path / "famous_persona_hub", tmp_path / "cv", tmp_path / "models")
    hub_shaped.make(rehearsal.release, pairs_per_person=9, people_per_fold=1, tests_per_person=2)
    stand_in_models(rehearsal.inference, real_server.base_url, real_server.model)
    commands = readme_commands()
    assert [kind(words) for words in commands] == KINDS
    for words in commands:
        argv = rehearsal.command(words)
        done = run(argv)
        if kind(words) == "doctor":
            check_doctor(done)
            continue
        assert done.returncode == 0, f"{shlex.join(argv)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        if kind(words) == "dry run":
            check_plan(done)
        elif kind(words) == "status":
            check_status(done)
    check_runs(rehearsal, real_server.model)
    check_report(rehearsal)


@pytest.mark.parametrize(("world_size", "cuda", "cpu"), [("2", False, True), ("1", False, False), ("2", True, False)])
def test_a_trainer_launched_over_processes_without_cuda_joins_them_on_the_cpu(monkeypatch, world_size, cuda, cpu):
    """What the rehearsal found: without CUDA, launched processes that do not take the CPU path each train alone."""
    from training import command, dpo

    monkeypatch.setenv("WORLD_SIZE", world_size)
    monkeypatch.setattr(command.torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(command, "bf16_supported", lambda: False)
    assert dpo.make_parser().get_default("use_cpu") is cpu
