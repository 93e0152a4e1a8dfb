#!/usr/bin/env bash
# The offline demo: synthetic world -> prefixes -> tiny model -> SFT warm-up + DPO per prefix -> scores and the
# unseen people's generated responses judged against the world's ground truth -> tables -> report.
# CPU only, no download. Idempotent: finished runs are skipped; --force redoes everything.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT_NAME=demo
source experiments/common.sh

usage() {
  cat <<TXT
usage: experiments/demo.sh [options] [--jobs N]
$COMMON_USAGE
  --jobs N        prefix methods trained at once (default 2; each uses one CPU thread)
TXT
}

METHODS=(no_prefix tag name xyw_2s persona_xy_4s persona_gold)
JOBS=(2)
FOLD=0
BEHAVIOURAL=1
parse_common "$@"
parse_lists jobs
ensure_methods "${METHODS[@]}"
say "tiny local model (word-level tokenizer on the dataset's text, random-init Llama)"
BASE=$(base_model)

train_and_score() {
  local method=$1 t0 t1 run="$OUT/$MODEL/$1/fold$FOLD"
  t0=$(date +%s)
  logged "$run/run.log" train "$method" "$FOLD" fold "$run" "$BASE" || return 1
  logged "$run/run.log" score "$run" "$method" "$method" "$FOLD" fold || return 1
  t1=$(date +%s)
  logged "$run/run.log" behave "$run/model" "$run/eval/$method" "$method" "$method" "$FOLD" fold --people unseen || return 1
  say "$method: SFT warm-up + DPO + scoring in $((t1 - t0))s, behaviour of the unseen people in $(($(date +%s) - t1))s"
}
export -f train_and_score train score finished behave logged say epochs_override launch
export DATA MODEL MODEL_DIR OUT SMOKE FORCE LAUNCH START SCRIPT_NAME BASE FOLD BEHAVIOURAL

say "SFT warm-up + DPO + scoring per prefix, fold $FOLD, $JOBS at a time (logs: $OUT/$MODEL/<method>/fold$FOLD/run.log)"
printf '%s\n' "${METHODS[@]}" | OMP_NUM_THREADS=1 xargs -P "${JOBS[0]}" -I{} bash -c 'train_and_score "$@"' _ {}
aggregate
say "aligned rate of the unseen people's responses (world judge), beside the reward accuracy above"
python -m analysis.aggregate --experiment_dir "$OUT" --metric gen_world_aligned | grep -v '^wrote'
behaviour_table
say "HTML report"
python -m analysis.report --experiment_dir "$OUT" --data "$DATA" | tail -n 1
