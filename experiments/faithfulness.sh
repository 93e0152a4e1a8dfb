#!/usr/bin/env bash
# Faithfulness: train with a prefix, then test with the same prefix, a re-sampled one (_seed1), another person's
# (shuffle_) and none, for seen and unseen people. A model that reads its prefix drops when the prefix is wrong.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT_NAME=faithfulness
source experiments/common.sh

usage() {
  cat <<TXT
usage: experiments/faithfulness.sh [options] [--methods M ...] [--folds K ...]
$COMMON_USAGE
  --methods M...  train prefixes (default: persona_gold xyw_2s)
  --folds K...    folds (default 0)
TXT
}

METHODS=(persona_gold xyw_2s)
FOLDS=(0)
parse_common "$@"
parse_lists methods folds
tests_for() { echo "$1 ${1}_seed1 shuffle_$1 no_prefix"; }
all_tests=()
for method in "${METHODS[@]}"; do read -r -a t <<<"$(tests_for "$method")"; all_tests+=("${t[@]}"); done
ensure_methods "${METHODS[@]}" "${all_tests[@]}"
BASE=$(base_model)

for fold in "${FOLDS[@]}"; do
  for method in "${METHODS[@]}"; do
    run="$OUT/$MODEL/$method/fold$fold" t0=$(date +%s)
    logged "$run/run.log" train "$method" "$fold" fold "$run" "$BASE"
    for test_method in $(tests_for "$method"); do
      logged "$run/run.log" score "$run" "$method" "$test_method" "$fold" fold
      logged "$run/run.log" behave "$run/model" "$run/eval/$test_method" "$method" "$test_method" "$fold" fold
    done
    run_done "fold $fold $method" "$run" "$t0"
  done
done
aggregate
behaviour_table
