#!/usr/bin/env bash
# The small model as its own inference model. It trains on persona_xy_4s rows mixed with the persona-inference task
# (k train pairs in, the person's gold persona preferred over another person's), and after every epoch it re-infers
# the persona_xy_4s prefixes itself, which re-bakes the rows it trains on. Then the trained model and the untrained
# base infer personas for everyone from the same 4 shots, and their quality (attribute recall on the synthetic world,
# ROUGE-L, embedding cosine) is printed for seen and unseen people next to the templated inference.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT_NAME=self_inference
source experiments/common.sh

usage() {
  cat <<TXT
usage: experiments/self_inference.sh [options] [--folds K ...] [--ratio R] [--tokens N]
$COMMON_USAGE
  --folds K...    folds (default 0)
  --ratio R       persona-task rows per train pair of a person (default 0.5)
  --tokens N      new tokens per inferred persona, in the refresh and the quality check (default 128)
TXT
}

FOLDS=(0)
RATIO=(0.5)
TOKENS=(128)
parse_common "$@"
parse_lists folds ratio tokens
TRAIN_SET="persona_xy_4s+persona_task_4s_from_persona_gold_ratio$RATIO"
ensure_methods "$TRAIN_SET" persona_xy_4s
BASE=$(base_model)
MODELS="$OUT/inference"
mkdir -p "$MODELS"
inference_model() { printf 'model: %s\nbackend: transformers\nmax_tokens: %s\nbatch_size: 32\n' "$1" "$TOKENS"; }
inference_model "$BASE" >"$MODELS/base.yaml"

for fold in "${FOLDS[@]}"; do
  run="$OUT/$MODEL/$TRAIN_SET/fold$fold" t0=$(date +%s)
  logged "$run/run.log" train "$TRAIN_SET" "$fold" fold "$run" "$BASE" \
    --refresh_every 1 --refresh_method persona_xy_4s --refresh_max_new_tokens "$TOKENS"
  logged "$run/run.log" score "$run" "$TRAIN_SET" persona_xy_4s "$fold" fold
  run_done "fold $fold: trained with persona refresh" "$run" "$t0"
  inference_model "$run/model" >"$MODELS/self$fold.yaml"
  methods=(persona_xy_4s persona_xy_4s_base "persona_xy_4s_self$fold")
  rm -f "$DATA/prefixes/persona_xy_4s_base.jsonl" "$DATA/prefixes/persona_xy_4s_self$fold.jsonl"
  say "fold $fold: persona quality (templated inference, untrained base, trained model)"
  python -m sampling.prefixes.build --data "$DATA" --methods "${methods[@]}" --inference_models "$MODELS" >/dev/null
  python -m analysis.persona_quality --data "$DATA" --methods "${methods[@]}" \
    --fold "$fold" --out "$OUT/persona_quality_fold$fold.csv" 2>/dev/null | tail -n +2
done
aggregate
