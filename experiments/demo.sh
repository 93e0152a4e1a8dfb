#!/usr/bin/env bash
# The offline demo: synthetic world -> prefixes -> tiny model -> SFT warm-up + DPO per prefix -> scores -> table.
# CPU only, no download. Idempotent: finished runs are skipped; --force redoes everything.
set -euo pipefail

usage() {
  cat <<'TXT'
usage: experiments/demo.sh [--out DIR] [--data DIR] [--fold K] [--jobs N] [--force] [--help]
  --out    experiment directory (default dump/demo)
  --data   dataset directory for the synthetic world (default data/demo_world)
  --fold   fold whose people are held out (default 0)
  --jobs   prefix methods trained at once (default 2; each uses one CPU thread)
  --force  redo finished runs
TXT
}

OUT=dump/demo DATA=data/demo_world FOLD=0 JOBS=2 FORCE=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    --fold) FOLD=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --force) FORCE="--force true"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_VERBOSITY=error
export HF_DATASETS_DISABLE_PROGRESS_BARS=1 HF_HUB_DISABLE_PROGRESS_BARS=1
export TOKENIZERS_PARALLELISM=false PYTHONWARNINGS=ignore
CONFIGS=experiments/configs/demo
METHODS=(no_prefix tag name xyw_2s persona_xy_4s persona_gold)
START=$(date +%s)

say() { printf '[demo %4ss] %s\n' "$(($(date +%s) - START))" "$*"; }

say "1/5 synthetic persona world -> $DATA (fictional people, not FamousPersona data)"
python -m sampling.synthetic --config "$CONFIGS/world.yaml" --out "$DATA" >/dev/null
say "2/5 prefixes and baked DPO files: ${METHODS[*]}"
python -m sampling.prefixes --data "$DATA" --methods "${METHODS[@]}" >/dev/null
python -m sampling.bake --data "$DATA" --methods "${METHODS[@]}" >/dev/null
say "3/5 tiny local model (word-level tokenizer on the dataset's text, random-init Llama)"
[[ -f "$OUT/base/config.json" && -z "$FORCE" ]] || python -m famous_persona.models --data "$DATA" --out "$OUT/base" >/dev/null

train_and_score() {
  local method=$1 run="$OUT/tiny/$1/fold$FOLD"
  mkdir -p "$run"
  local log="$run/demo.log" t0
  t0=$(date +%s)
  {
    python -m training.sft --config "$CONFIGS/sft.yaml" --data "$DATA" --method "$method" --fold "$FOLD" \
      --run_dir "$run/sft" --model_name_or_path "$OUT/base" $FORCE
    python -m training.dpo --config "$CONFIGS/dpo.yaml" --data "$DATA" --method "$method" --fold "$FOLD" \
      --run_dir "$run" --model_name_or_path "$run/sft/model" $FORCE
    python -m evaluation.score --model "$run/model" --ref_model "$run/sft/model" --data "$DATA" \
      --test_method "$method" --fold "$FOLD" --out "$run/eval/$method" --experiment demo --model_short tiny \
      --train_method "$method" $FORCE
  } >"$log" 2>&1 || { say "   $method FAILED; see $log"; tail -n 20 "$log" >&2; return 1; }
  say "   $method: SFT + DPO + scoring done in $(($(date +%s) - t0))s"
}
export -f train_and_score say
export OUT DATA FOLD CONFIGS FORCE START

say "4/5 SFT warm-up + DPO + scoring per prefix, fold $FOLD, $JOBS at a time (logs in $OUT/tiny/<method>/fold$FOLD/)"
printf '%s\n' "${METHODS[@]}" | OMP_NUM_THREADS=1 xargs -P "$JOBS" -I{} bash -c 'train_and_score "$@"' _ {}

say "5/5 results.csv and the table"
python -m analysis.aggregate --experiment_dir "$OUT"
say "done"
