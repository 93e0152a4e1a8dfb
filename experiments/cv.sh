#!/usr/bin/env bash
# Cross-validation over people: one model per (prefix method, fold), each scored on every person's test pairs with
# its own prefix (a training set a+b: with each of its prefix methods). --scheme picks the folds: persona folds (default), leave-one-axis-out, or one model per person.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT_NAME=${SCRIPT_NAME:-cv}
source experiments/common.sh

usage() {
  cat <<TXT
usage: experiments/cv.sh [options] [--methods M ...] [--folds K ...] [--scheme fold|axis|person]
$COMMON_USAGE
  --methods M...  prefix methods (default: no_prefix tag name xyw_2s persona_xy_4s persona_gold)
  --folds K...    folds to run (default: all; with --smoke the first two)
  --scheme S      fold: persona folds; axis: fold k holds out the people of the k-th axis; person: fold k trains
                  on the k-th person alone (default fold)
TXT
}

METHODS=(no_prefix tag name xyw_2s persona_xy_4s persona_gold)
SCHEME=(fold)
FOLDS=()
parse_common "$@"
parse_lists methods folds scheme
[[ ${#FOLDS[@]} -gt 0 ]] || read -r -a FOLDS <<<"$(fold_indices "$SCHEME")"
ensure_methods "${METHODS[@]}"
BASE=$(base_model)

for fold in "${FOLDS[@]}"; do
  for method in "${METHODS[@]}"; do
    run="$OUT/$MODEL/$method/$SCHEME$fold" t0=$(date +%s)
    logged "$run/run.log" train "$method" "$fold" "$SCHEME" "$run" "$BASE"
    for test_method in $(scored_methods "$method"); do
      logged "$run/run.log" score "$run" "$method" "$test_method" "$fold" "$SCHEME"
      logged "$run/run.log" behave "$run/model" "$run/eval/$test_method" "$method" "$test_method" "$fold" "$SCHEME"
    done
    run_done "$SCHEME $fold $method" "$run" "$t0"
  done
done
aggregate
behaviour_table
