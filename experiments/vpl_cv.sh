#!/usr/bin/env bash
# The VPL baseline across folds: SFT warm-up on no_prefix (reused when that fold's no_prefix run has one) -> VPL ->
# scores with z from each person's own train pairs, into the same results.csv (train_method=vpl).
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT_NAME=${SCRIPT_NAME:-vpl_cv}
source experiments/common.sh

usage() {
  cat <<TXT
usage: experiments/vpl_cv.sh [options] [--folds K ...]
$COMMON_USAGE
  --folds K...    folds to run (default: all; with --smoke the first two)
The VPL recipe is experiments/configs/models/<model>/vpl.yaml on top of the DPO recipe dpo.yaml beside it (only
the tiny model has one so far).
TXT
}

FOLDS=()
parse_common "$@"
parse_lists folds
[[ -f "$MODEL_DIR/vpl.yaml" ]] || die "no VPL recipe for '$MODEL': $MODEL_DIR/vpl.yaml"
[[ ${#FOLDS[@]} -gt 0 ]] || read -r -a FOLDS <<<"$(fold_indices fold)"
ensure_methods no_prefix
BASE=$(base_model)

finished() { [[ -f "$1/manifest.json" ]] && grep -q '"status": "finished"' "$1/manifest.json"; }

vpl_fold() {
  local fold=$1 run=$2 sft="$OUT/$MODEL/no_prefix/fold$1/sft"
  if ! finished "$sft"; then
    sft="$run/sft"
    launch training.sft --config "$MODEL_DIR/sft.yaml" --data "$DATA" --method no_prefix --fold "$fold" \
      --output_dir "$sft" --model_name_or_path "$BASE" $(epochs_override 4) $FORCE
  fi
  local vpl_options
  mapfile -t vpl_options < <(recipe_options "$MODEL_DIR/vpl.yaml")
  launch training.vpl --config "$MODEL_DIR/dpo.yaml" "${vpl_options[@]}" --data "$DATA" --fold "$fold" \
    --output_dir "$run" --model_name_or_path "$sft/model" $(epochs_override 1) $FORCE
  python -m evaluation.score --config "$MODEL_DIR/eval.yaml" --model "$run/model" --ref_model "$sft/model" \
    --data "$DATA" --test_method no_prefix --fold "$fold" --out "$run/eval/no_prefix" \
    --experiment "$(basename "$OUT")" --model_short "$MODEL" --train_method vpl $FORCE
}

for fold in "${FOLDS[@]}"; do
  run="$OUT/$MODEL/vpl/fold$fold" t0=$(date +%s)
  logged "$run/run.log" vpl_fold "$fold" "$run"
  run_done "fold $fold vpl" "$run" "$t0"
done
aggregate
