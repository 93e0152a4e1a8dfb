#!/usr/bin/env bash
# The paper's three claims as measured effects (analysis.claims): (a) unseen accuracy against measured persona
# quality, trained at set quality levels (persona_r{R}p{P}) beside no_prefix and xyw_2s; (b) faithfulness: each
# persona model scored with its own prefix, another person's (shuffle_) and none; (c) planted bias: no_prefix, xyw_2s
# and an accurate persona in the planted-bias world, minority - majority gap and analysis.bias's corrected test.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT_NAME=claims
source experiments/common.sh

usage() {
  cat <<TXT
usage: experiments/claims.sh [options] [--levels M ...] [--folds K ...]
$COMMON_USAGE
  --levels M...   quality levels (default: persona_r25p100 persona_r50p100 persona_r75p100 persona_r100p100
                  persona_r100p50)
  --folds K...    folds (default 0)
Writes <out>/quality, <out>/planted and <out>/report/claims.html.
TXT
}

LEVELS=(persona_r25p100 persona_r50p100 persona_r75p100 persona_r100p100 persona_r100p50)
FOLDS=(0)
REFS=(no_prefix xyw_2s)
parse_common "$@"
parse_lists levels folds
ROOT=$OUT
tests_for() { [[ "$1" == persona_* ]] && echo "$1 shuffle_$1 no_prefix" || echo "$1"; }

# run_world METHOD...: train each method on every fold of $DATA under $OUT and score it with tests_for.
run_world() {
  local all=()
  for method in "$@"; do read -r -a t <<<"$(tests_for "$method")"; all+=("${t[@]}"); done
  ensure_methods $(printf '%s\n' "${all[@]}" | sort -u)
  BASE=$(base_model)
  for fold in "${FOLDS[@]}"; do
    for method in "$@"; do
      run="$OUT/$MODEL/$method/fold$fold" t0=$(date +%s)
      logged "$run/run.log" train "$method" "$fold" fold "$run" "$BASE"
      for test_method in $(tests_for "$method"); do
        logged "$run/run.log" score "$run" "$method" "$test_method" "$fold" fold
      done
      run_done "$(basename "$OUT") fold $fold $method" "$run" "$t0"
    done
  done
  aggregate >/dev/null
}

QUALITY_DATA=$DATA OUT=$ROOT/quality
run_world "${REFS[@]}" "${LEVELS[@]}"

PLANTED_CONFIG=$CONFIGS/worlds/planted${SMOKE:+_smoke}.yaml
DATA=data/synthetic_planted${SMOKE:+_smoke} GENERATED=1 OUT=$ROOT/planted
say "planted-bias world -> $DATA (fictional people)"
python -m sampling.world.synthetic --config "$PLANTED_CONFIG" --out "$DATA" >/dev/null
run_world "${REFS[@]}" persona_r100p100

say "the three claims"
python -m analysis.claims --quality_dir "$ROOT/quality" --quality_data "$QUALITY_DATA" --planted_dir "$OUT" \
  --planted_data "$DATA" --out "$ROOT/report" --persona persona_r100p100
