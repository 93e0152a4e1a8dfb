#!/usr/bin/env bash
# A prepared check of a GPU machine in at most ten minutes (evaluation/gpu_check.py): the GPUs, SmolLM2 placed on
# one, a random-weight model of Llama-3.2-1B's shape (memory, scorer pairs/s), bf16 and 4-bit LoRA DPO steps (time,
# peak memory, minutes per paper fold), and two processes on two GPUs when there are two. One `name=value` line per
# figure. On a machine without a GPU it prints gpu=0 and a line saying it needs one, and exits 0.
# Options: famous-persona gpu-check --help (e.g. --budget_s 300, --steps 2, --smollm2 '' to skip SmolLM2).
set -euo pipefail
cd "$(dirname "$0")/.."
exec famous-persona gpu-check "$@"
