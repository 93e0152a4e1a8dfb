#!/usr/bin/env bash
# usage: experiments/slurm.sh [sbatch options --] SCRIPT [script options]
# Submits an experiment script to Slurm. Nothing site-specific lives here: pass partition, account, GPUs and time as sbatch options, e.g.
#   experiments/slurm.sh --gres=gpu:1 --time=12:00:00 -- cv.sh --model llama321b --data data/famous_persona
# Every script is idempotent, so a requeued or repeated job resumes where the last one stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -eq 0 || "$1" == "-h" || "$1" == "--help" ]]; then
  sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
sbatch_options=()
if [[ " $* " == *" -- "* ]]; then
  while [[ "$1" != "--" ]]; do sbatch_options+=("$1"); shift; done
  shift
fi
script=$1; shift
[[ -f "experiments/$script" ]] || { echo "error: no experiments/$script" >&2; exit 2; }
mkdir -p dump/slurm
sbatch --job-name="fp-${script%.sh}" --output="dump/slurm/%x-%j.out" --requeue "${sbatch_options[@]}" \
  --wrap "cd $(printf '%q' "$PWD") && bash experiments/$script $(printf '%q ' "$@")"
