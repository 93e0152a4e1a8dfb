#!/usr/bin/env bash
# The demo's table over training seeds: the demo as `make demo` runs it (dump/demo, the recipes' seed), again with
# each seed given (default 1 and 2) in dump/demo_seed<seed>, then each cell's mean and range over the runs
# (analysis.spread, written to dump/demo/spread.csv). The runs are the demo plan, so a rerun does only what is not done.
# Usage: bash experiments/demo_seeds.sh [SEED ...]
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h|--help) sed -n '2,5p' "$0" | cut -c3-; exit 0 ;; esac
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2)
famous-persona run demo
folders=(dump/demo)
for seed in "${seeds[@]}"; do
  famous-persona run demo --seed "$seed" --out "dump/demo_seed$seed"
  folders+=("dump/demo_seed$seed")
done
exec famous-persona spread --experiment_dirs "${folders[@]}"
