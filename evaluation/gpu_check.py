"""A prepared check of a GPU machine, within a time budget (ten minutes by default): what the paper's runs would cost
there. Sections, each printing `name=value` lines (a section that fails prints `<section>_error=...` and the rest
go on; one that the budget no longer allows prints `<section>=skipped (time budget)`):

- the machine: GPU count, name and memory, bf16, torch and CUDA versions;
- SmolLM2-135M-Instruct (models/, `famous-persona fetch-model smollm2`) placed by the shared policy: device, dtype,
  load time and scorer pairs per second;
- a model of Llama-3.2-1B's shape with random weights (built from a LlamaConfig, nothing downloaded): parameters,
  weight memory, scorer pairs per second and peak memory;
- DPO steps with TRL on that model, LoRA r=8 alpha=32 on every projection at the recipes' per-device batch and
  sequence length, in bf16 and in 4 bit (QLoRA, bitsandbytes): seconds per step, pairs per second, peak memory and
  the implied minutes for one fold of the paper (3,600 pairs, 2 epochs);
- with two GPUs or more, the same bf16 step in two processes through `accelerate launch`.

Without a GPU it prints `gpu=0` and a line saying it needs one, and exits 0. `--allow_cpu true --shape tiny` runs
every section on the CPU with a tiny model (how the tests exercise it). Usage: `experiments/gpu_check.sh`.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from trl import TrlParser

from evaluation.gpu_workloads import (
    GIB,
    SHAPES,
    allocated_gib,
    peak_gib,
    preference_rows,
    random_model,
    release,
    reset_peak,
    scorer_rate,
    step_clock,
    synchronize,
    synthetic_pairs,
    word_tokenizer,
)
from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import exit_on_data_error

PAPER_FOLD_PAIRS = 3600  # 40 seen people x 90 train pairs (100 less the validation slice)
PAPER_EPOCHS = 2
DEPRECATED_ALIAS = r"`(is_)?gradient_checkpointing\w*` is deprecated"
LORA_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class GpuCheckArguments:
    shape: str = field(default="llama-3.2-1b", metadata={"help": f"Random model's shape: {', '.join(SHAPES)}."})
    smollm2: str = field(
        default="models/smollm2-135m-instruct", metadata={"help": "SmolLM2 folder ('' skips that section)."}
    )
    prompt_tokens: int = field(default=1500, metadata={"help": "Prompt length of the synthetic pairs."})
    answer_tokens: int = field(default=400, metadata={"help": "Length of each answer of the synthetic pairs."})
    per_device_batch: int = field(default=4, metadata={"help": "Pairs per device per DPO step (the recipes' 4)."})
    steps: int = field(default=4, metadata={"help": "Timed DPO steps, after one warm-up step."})
    pairs: int = field(default=64, metadata={"help": "Pairs the scorer is timed on."})
    budget_s: float = field(default=540.0, metadata={"help": "Sections that would start after this are skipped."})
    allow_cpu: bool = field(default=False, metadata={"help": "Run on the CPU too (tests; use --shape tiny)."})
    part: str = field(default="all", metadata={"help": "all, or ddp (one rank of the two-process step)."})


class Budget:
    """Seconds left of the check; a section that starts late is skipped instead of overrunning."""

    def __init__(self, seconds: float):
        self.start, self.seconds = time.monotonic(), seconds

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.start)


def emit(name: str, value: object) -> None:
    print(f"{name}={value}", flush=True)


def section(name: str, budget: Budget, run: Callable[[], None]) -> None:
    """Run one section; its failure becomes a figure so that the others still report."""
    if budget.left() <= 0:
        emit(name, "skipped (time budget)")
        return
    try:
        run()
    except Exception as error:  # a check reports what broke and goes on
        emit(f"{name}_error", f"{type(error).__name__}: {' '.join(str(error).split())[:300]}")
    finally:
        release()


def machine() -> int:
    """The machine's lines; returns the GPU count."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    emit("gpu", count)
    if count:
        properties = torch.cuda.get_device_properties(0)
        emit("gpu_name", properties.name)
        emit("gpu_memory_gib", round(properties.total_memory / GIB, 1))
        emit("bf16", str(torch.cuda.is_bf16_supported()).lower())
    emit("torch", torch.__version__)
    emit("cuda", torch.version.cuda)
    return count


def smollm2_section(args: GpuCheckArguments) -> None:
    from famous_persona.models import load_model, load_tokenizer

    folder = Path(args.smollm2)
    if not (folder / "config.json").is_file():
        emit("smollm2", f"missing ({folder}; famous-persona fetch-model smollm2)")
        return
    start = time.perf_counter()
    model = load_model(folder, dtype="auto", device="auto")
    synchronize()
    emit("smollm2_load_s", round(time.perf_counter() - start, 2))
    weight = next(model.parameters())
    emit("smollm2_device", weight.device)
    emit("smollm2_dtype", str(weight.dtype).removeprefix("torch."))
    vocab = len(load_tokenizer(folder))
    pairs = synthetic_pairs(args.pairs, min(args.prompt_tokens, 1024), min(args.answer_tokens, 256), vocab)
    emit("smollm2_score_pairs_per_s", round(scorer_rate(model, pairs, 0), 2))


def random_model_section(args: GpuCheckArguments) -> None:
    model = random_model(args.shape).eval()
    synchronize()
    emit("model", f"{args.shape}-shaped, random weights")
    emit("model_params_m", round(sum(p.numel() for p in model.parameters()) / 1e6, 1))
    emit("model_dtype", str(next(model.parameters()).dtype).removeprefix("torch."))
    emit("model_weights_gib", allocated_gib())
    pairs = synthetic_pairs(args.pairs, args.prompt_tokens, args.answer_tokens, SHAPES[args.shape]["vocab_size"])
    reset_peak()
    emit("scorer_pairs_per_s", round(scorer_rate(model, pairs, 0), 2))
    emit("scorer_peak_gib", peak_gib())


# --- DPO steps ----------------------------------------------------------------------------------------------------


def dpo_steps(model, tokenizer, args: GpuCheckArguments, out_dir: str) -> tuple[float, float, int]:
    """(median seconds per step after the first, peak GiB, processes) of TRL's DPO with the recipes' LoRA."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    from famous_persona.models import bf16_supported

    words = len(tokenizer) - 16
    rows = preference_rows(args.per_device_batch * (args.steps + 1) * 2, args.prompt_tokens, args.answer_tokens, words)
    config = DPOConfig(
        output_dir=out_dir,
        per_device_train_batch_size=args.per_device_batch,
        gradient_accumulation_steps=1,
        max_steps=args.steps + 1,
        learning_rate=2e-4,
        beta=0.01,
        max_length=args.prompt_tokens + args.answer_tokens + 16,
        activation_checkpointing=True,
        bf16=bf16_supported(),
        use_cpu=not torch.cuda.is_available(),
        report_to="none",
        save_strategy="no",
        logging_steps=1000,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    lora = LoraConfig(r=8, lora_alpha=32, lora_dropout=0.05, target_modules=LORA_MODULES, task_type="CAUSAL_LM")
    clock = step_clock()
    trainer = DPOTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=[clock],
    )
    reset_peak()
    with warnings.catch_warnings():  # TRL asks for the deprecated checkpointing alias on every step
        warnings.filterwarnings("ignore", DEPRECATED_ALIAS, FutureWarning)
        trainer.train()
    timed = clock.times[1:] or clock.times
    return statistics.median(timed), peak_gib(), config.world_size


def report_steps(prefix: str, step_s: float, peak: float, pairs_per_step: int) -> None:
    rate = pairs_per_step / step_s
    emit(f"{prefix}_step_s", round(step_s, 3))
    emit(f"{prefix}_pairs_per_s", round(rate, 2))
    emit(f"{prefix}_peak_gib", peak)
    emit(f"{prefix}_fold_min", round(PAPER_FOLD_PAIRS * PAPER_EPOCHS / rate / 60, 1))


def bf16_dpo_section(args: GpuCheckArguments) -> None:
    tokenizer = word_tokenizer(min(SHAPES[args.shape]["vocab_size"], 8192) - 16)
    model = random_model(args.shape, tokenizer.pad_token_id)
    with tempfile.TemporaryDirectory() as out:
        step_s, peak, processes = dpo_steps(model, tokenizer, args, out)
    prefix = "dpo_lora" if processes == 1 else f"ddp{processes}_dpo_lora"
    if args.part == "ddp" and int(os.environ.get("RANK", "0")) != 0:
        return
    report_steps(prefix, step_s, peak, args.per_device_batch * processes)


def four_bit_dpo_section(args: GpuCheckArguments) -> None:
    import importlib.util

    from famous_persona.models import load_model

    if not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None:
        emit("dpo_qlora", "skipped (needs a CUDA GPU and bitsandbytes)")
        return
    tokenizer = word_tokenizer(min(SHAPES[args.shape]["vocab_size"], 8192) - 16)
    with tempfile.TemporaryDirectory() as folder:
        random_model(args.shape, tokenizer.pad_token_id).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        release()
        model = load_model(folder, dtype="auto", quantization="4bit")
        emit("qlora_weights_gib", allocated_gib())
        step_s, peak, _ = dpo_steps(model, tokenizer, args, str(Path(folder) / "run"))
    report_steps("dpo_qlora", step_s, peak, args.per_device_batch)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def two_process_section(args: GpuCheckArguments, gpus: int, budget: Budget) -> None:
    """The bf16 step in two processes, one per GPU; the child's figures are passed on."""
    if gpus < 2:
        emit("ddp2", f"skipped ({gpus} GPU)")
        return
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--mixed_precision", "bf16" if torch.cuda.is_bf16_supported() else "no"]
    launch += ["--main_process_port", str(free_port()), "-m", "evaluation.gpu_check", "--part", "ddp"]
    options = ["--shape", args.shape, "--prompt_tokens", str(args.prompt_tokens), "--steps", str(args.steps)]
    options += ["--answer_tokens", str(args.answer_tokens), "--per_device_batch", str(args.per_device_batch)]
    timeout = max(30.0, budget.left())
    done = subprocess.run([*launch, *options], capture_output=True, text=True, timeout=timeout)
    figures = [line for line in done.stdout.splitlines() if line.startswith("ddp2_")]
    for line in figures:
        print(line, flush=True)
    if done.returncode != 0 or not figures:
        emit("ddp2_error", f"exit {done.returncode}: {' '.join(done.stderr.split()[-40:])}")


def run_check(args: GpuCheckArguments) -> None:
    budget = Budget(args.budget_s)
    if args.part == "ddp":
        bf16_dpo_section(args)
        return
    gpus = machine()
    if not gpus and not args.allow_cpu:
        emit("gpu_check", "skipped: it needs a CUDA GPU (run it on the GPU machine; famous-persona doctor lists more)")
        return
    if args.smollm2:
        section("smollm2", budget, lambda: smollm2_section(args))
    section("model", budget, lambda: random_model_section(args))
    section("dpo_lora", budget, lambda: bf16_dpo_section(args))
    section("dpo_qlora", budget, lambda: four_bit_dpo_section(args))
    section("ddp2", budget, lambda: two_process_section(args, gpus, budget))
    emit("gpu_check_s", round(args.budget_s - budget.left(), 1))


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("gpu-check", [GpuCheckArguments], __doc__, subparsers)


@exit_on_data_error
def main(argv: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (args,) = parse_config(parser or make_parser(), argv)
    run_check(args)


if __name__ == "__main__":
    main()
