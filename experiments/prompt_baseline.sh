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
prompt_only "${METHODS[@]}"
aggregate
behaviour_table
