#!/usr/bin/env bash
# A real model on a CPU: SmolLM2-135M-Instruct (its recipe, LoRA DPO) on one fold of the demo world. The untrained
# base scored with each prefix, then LoRA DPO per prefix method on a subset of the fold's training pairs dealt evenly
# over the seen people (--max_train_pairs, default 64; 16 with --smoke), scored on seen and unseen people; SmolLM2
# then infers every person's persona from 4 shots, and its quality is printed next to the templated inference. The
# plan is planner/experiments.py's `real_model` (famous-persona run real_model --help).
set -euo pipefail
cd "$(dirname "$0")/.."
exec famous-persona run real_model "$@"
