#!/usr/bin/env bash
# Prompt-only baseline: the base model, untrained, scored with each prefix (train_method=none, fold=-1).
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT_NAME=prompt_baseline
source experiments/common.sh

usage() {
  cat <<TXT
usage: experiments/prompt_baseline.sh [options] [--methods M ...]
$COMMON_USAGE
  --methods M...  prefix methods (default: no_prefix name xyw_2s persona_xy_4s persona_gold)
TXT
}

METHODS=(no_prefix name xyw_2s persona_xy_4s persona_gold)
parse_common "$@"
parse_lists methods
ensure_methods "${METHODS[@]}"
BASE=$(base_model)
mapfile -t SETTINGS < <(training_settings beta max_length system_prompt)

T0=$(date +%s)
for method in "${METHODS[@]}"; do
  out="$OUT/$MODEL/none/eval/$method"
  logged "$OUT/$MODEL/none/run.log" python -m evaluation.score --config "$MODEL_DIR/eval.yaml" --model "$BASE" \
    --data "$DATA" --test_method "$method" --fold -1 --out "$out" --experiment "$(basename "$OUT")" \
    --model_short "$MODEL" --train_method none "${SETTINGS[@]}" $FORCE
  logged "$OUT/$MODEL/none/run.log" behave "$BASE" "$out" none "$method" -1 fold
done
run_done "prompt-only base model, ${#METHODS[@]} prefixes" "$OUT/$MODEL/none" "$T0"
aggregate
behaviour_table
