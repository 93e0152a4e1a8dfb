#!/usr/bin/env bash
# The paper's three claims as measured effects (analysis.claims): (a) unseen accuracy against measured persona
# quality, trained at set quality levels (persona_r{R}p{P}) beside no_prefix and xyw_2s; (b) faithfulness: each
# persona model scored with its own prefix, another person's (shuffle_) and none; (c) planted bias: no_prefix, xyw_2s
# and an accurate persona in the planted-bias world, minority - majority gap and analysis.bias's corrected test.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT_NAME=claims
SMOKE_WORLD=planted_smoke
source experiments/common.sh

usage() {
  cat <<TXT
usage: experiments/claims.sh [options] [--levels M ...] [--folds K ...] [--jobs N]
$COMMON_USAGE
  --levels M...   quality levels (default: persona_r25p100 persona_r50p100 persona_r75p100 persona_r100p100
                  persona_r100p50; with --smoke: persona_r50p100 persona_r100p100)
  --folds K...    folds (default 0)
  --jobs N        runs trained at once (default 2; each uses one CPU thread)
Writes <out>/quality, <out>/planted and <out>/report/claims.html. The default (the demo world and a 40-person
planted world, 10 models) took 16:31 on 2 idle cores (28 CPU-minutes). --smoke makes one 12-person planted world
serve all three claims (<out>/planted is then <out>/quality) and trains no xyw_2s reference (2:21 on the same cores).
TXT
}

LEVELS=(persona_r25p100 persona_r50p100 persona_r75p100 persona_r100p100 persona_r100p50)
REFS=(no_prefix xyw_2s)
ACCURATE=persona_r100p100
FOLDS=(0)
JOBS=(2)
parse_common "$@"
if [[ -n "$SMOKE" ]]; then
  LEVELS=(persona_r50p100 persona_r100p100)
  REFS=(no_prefix)
fi
parse_lists levels folds jobs
ROOT=$OUT
tests_for() { [[ "$1" == persona_* ]] && echo "$1 shuffle_$1 no_prefix" || echo "$1"; }

# train_and_score METHOD FOLD: one model of $DATA under $OUT, scored with tests_for; a finished step is skipped.
train_and_score() {
  local method=$1 fold=$2 run="$OUT/$MODEL/$1/fold$2" t0
  t0=$(date +%s)
  logged "$run/run.log" train "$method" "$fold" fold "$run" "$BASE" || return 1
  for test_method in $(tests_for "$method"); do
    logged "$run/run.log" score "$run" "$method" "$test_method" "$fold" fold || return 1
  done
  run_done "$(basename "$OUT") fold $fold $method" "$run" "$t0"
}
export -f train_and_score tests_for train score finished logged say run_done epochs_override launch
export MODEL MODEL_DIR SMOKE FORCE LAUNCH START SCRIPT_NAME

# run_world METHOD...: every (method, fold) of $DATA under $OUT, $JOBS at a time, then results.csv.
run_world() {
  local methods all=()
  mapfile -t methods < <(printf '%s\n' "$@" | awk '!seen[$0]++')
  for method in "${methods[@]}"; do read -r -a t <<<"$(tests_for "$method")"; all+=("${t[@]}"); done
  ensure_methods $(printf '%s\n' "${all[@]}" | sort -u)
  BASE=$(base_model)
  export DATA OUT BASE
  say "$(basename "$OUT"): ${methods[*]} on fold(s) ${FOLDS[*]}, ${JOBS[0]} at a time (logs: $OUT/$MODEL/<method>/fold<k>/run.log)"
  for fold in "${FOLDS[@]}"; do printf "%s $fold\n" "${methods[@]}"; done |
    OMP_NUM_THREADS=1 xargs -P "${JOBS[0]}" -L 1 bash -c 'train_and_score "$@"' _
  aggregate >/dev/null
}

QUALITY_DATA=$DATA OUT=$ROOT/quality
if [[ -n "$SMOKE" && -n "$GENERATED" ]]; then
  run_world "${LEVELS[@]}" "${REFS[@]}" "$ACCURATE"
else
  run_world "${LEVELS[@]}" "${REFS[@]}"
  PLANTED_CONFIG=$CONFIGS/worlds/planted${SMOKE:+_smoke}.yaml
  DATA=data/synthetic_planted${SMOKE:+_smoke} GENERATED=1 OUT=$ROOT/planted
  say "planted-bias world -> $DATA (fictional people)"
  python -m sampling.world.synthetic --config "$PLANTED_CONFIG" --out "$DATA" >/dev/null
  run_world "$ACCURATE" "${REFS[@]}"
fi

say "the three claims"
python -m analysis.claims --quality_dir "$ROOT/quality" --quality_data "$QUALITY_DATA" --planted_dir "$OUT" \
  --planted_data "$DATA" --out "$ROOT/report" --persona "$ACCURATE"
