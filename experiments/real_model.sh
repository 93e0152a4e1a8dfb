#!/usr/bin/env bash
# A real model on a CPU: SmolLM2-135M-Instruct (its recipe, LoRA DPO) on one fold of the demo world. The untrained
# base scored with each prefix (as prompt_baseline.sh does), then LoRA DPO per prefix method on a subset of the fold's
# training pairs dealt evenly over the seen people, scored on seen and unseen people; SmolLM2 then infers every person's persona from 4 shots,
# and its quality is printed next to the templated inference. The table compares prompt-only with DPO.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT_NAME=real_model
source experiments/common.sh

usage() {
  cat <<TXT
usage: experiments/real_model.sh [options] [--methods M ...] [--fold K] [--max_train_pairs N]
$COMMON_USAGE
                  (default here: --model smollm2)
  --methods M...      prefix methods (default: no_prefix xyw_2s persona_gold)
  --fold K            the fold whose people are held out (default 0)
  --max_train_pairs N train pairs per model, dealt evenly over the seen people; 0 = all (default 64, 2 a
                      person of the demo world's 32 seen; with --smoke 16)
TXT
}

MODEL=smollm2
METHODS=(no_prefix xyw_2s persona_gold)
FOLD=(0)
MAX_TRAIN_PAIRS=()
parse_common "$@"
parse_lists methods fold max_train_pairs
[[ ${#MAX_TRAIN_PAIRS[@]} -gt 0 ]] || MAX_TRAIN_PAIRS=("${SMOKE:+16}")
MAX_TRAIN_PAIRS=${MAX_TRAIN_PAIRS:-64}
[[ "$MAX_TRAIN_PAIRS" =~ ^[0-9]+$ ]] || die "--max_train_pairs takes a whole number, got '$MAX_TRAIN_PAIRS'"
SUBSET=()
[[ "$MAX_TRAIN_PAIRS" -gt 0 ]] && SUBSET=(--max_train_pairs "$MAX_TRAIN_PAIRS")
ensure_methods "${METHODS[@]}"
BASE=$(base_model)

prompt_only "${METHODS[@]}"

for method in "${METHODS[@]}"; do
  run="$OUT/$MODEL/$method/fold$FOLD" t0=$(date +%s)
  logged "$run/run.log" train "$method" "$FOLD" fold "$run" "$BASE" "${SUBSET[@]}"
  for test_method in $(scored_methods "$method"); do
    logged "$run/run.log" score "$run" "$method" "$test_method" "$FOLD" fold
  done
  run_done "LoRA DPO fold $FOLD $method" "$run" "$t0"
done

t0=$(date +%s)
methods=(persona_xy_4s persona_xy_4s_smollm2)
say "persona inference by SmolLM2 from 4 shots (replies cached under $DATA/cache)"
python -m sampling.prefixes.build --data "$DATA" --methods "${methods[@]}" --inference_models "$CONFIGS/inference" \
  >/dev/null
say "persona quality, templated inference vs SmolLM2 ($(($(date +%s) - t0))s)"
python -m analysis.persona_quality --data "$DATA" --methods "${methods[@]}" --fold "$FOLD" \
  --out "$OUT/persona_quality_fold$FOLD.csv" 2>/dev/null | tail -n +2
aggregate
