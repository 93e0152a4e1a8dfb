"""experiments/gpu_check.sh: on this GPU-less machine it says so and exits 0 in seconds; its sections run on the CPU
with a tiny model, and a section that fails or runs out of time is reported without stopping the others."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evaluation import gpu_check, gpu_workloads
from evaluation.gpu_check import Budget, GpuCheckArguments, run_check, section

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}


def _figures(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if "=" in line and not line.startswith((" ", "{"))]
    return dict(line.split("=", 1) for line in lines)


@pytest.mark.slow
def test_without_a_gpu_it_says_so_and_exits_zero():
    start = time.monotonic()
    done = subprocess.run(["bash", "experiments/gpu_check.sh"], cwd=ROOT, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - start < 60
    lines = done.stdout.splitlines()
    assert lines[0] == "gpu=0" and lines[-1].startswith("gpu_check=skipped: it needs a CUDA GPU")
    assert all("=" in line for line in lines)


@pytest.mark.slow
def test_help_lists_the_options():
    done = subprocess.run(
        ["bash", "experiments/gpu_check.sh", "--help"], cwd=ROOT, env=ENV, capture_output=True, text=True
    )
    assert done.returncode == 0 and "--budget_s" in done.stdout and "--shape" in done.stdout


@pytest.mark.slow
def test_every_section_runs_on_the_cpu_with_a_tiny_model(capsys):
    args = GpuCheckArguments(
        shape="tiny",
        smollm2="",
        prompt_tokens=32,
        answer_tokens=8,
        per_device_batch=2,
        steps=1,
        pairs=8,
        allow_cpu=True,
    )
    run_check(args)
    figures = _figures(capsys.readouterr().out)
    assert not [name for name in figures if name.endswith("_error")], figures
    assert figures["gpu"] == "0" and figures["model"] == "tiny-shaped, random weights"
    assert float(figures["model_params_m"]) > 0 and float(figures["scorer_pairs_per_s"]) > 0
    assert float(figures["dpo_lora_step_s"]) > 0 and float(figures["dpo_lora_fold_min"]) > 0
    assert figures["dpo_qlora"].startswith("skipped") and figures["ddp2"] == "skipped (0 GPU)"
    assert "smollm2_load_s" not in figures


def test_a_missing_smollm2_is_named(capsys, tmp_path):
    gpu_check.smollm2_section(GpuCheckArguments(smollm2=str(tmp_path / "absent")))
    assert "smollm2=missing" in capsys.readouterr().out


def test_a_failing_section_is_a_figure_and_the_budget_skips_late_ones(capsys):
    section("broken", Budget(60), lambda: 1 / 0)
    section("late", Budget(0), lambda: print("ran"))
    out = capsys.readouterr().out.splitlines()
    assert out == ["broken_error=ZeroDivisionError: division by zero", "late=skipped (time budget)"]


def test_synthetic_pairs_share_prompts_and_prefixes():
    pairs = gpu_workloads.synthetic_pairs(16, 30, 5, 100)
    assert len(pairs) == 16 and all(len(p.prompt_ids) == 30 and len(p.chosen_ids) == 5 for p in pairs)
    assert pairs[0].prompt_ids[:20] == pairs[7].prompt_ids[:20] != pairs[8].prompt_ids[:20]
    assert min(min(p.prompt_ids) for p in pairs) >= 16
