#!/usr/bin/env bash
# VPL baseline across folds: SFT warm-up on no_prefix (reused from the demo or cv runs when finished) -> VPL -> scores.
# Idempotent: finished runs are skipped; --force redoes them.
set -euo pipefail

usage() {
  cat <<'TXT'
usage: experiments/vpl_cv.sh [--data DIR] [--out DIR] [--folds "0 1 2 3 4"] [--model DIR] [--config FILE] [--force]
  --data    dataset directory with dpo/no_prefix baked (default data/demo_world)
  --out     experiment directory (default dump/demo); runs go to <out>/tiny/vpl/fold<k>
  --folds   folds to run, space- or comma-separated (default "0 1 2 3 4")
  --model   base model to warm up (default <out>/base, the tiny local model, built if missing)
  --config  VPL config (default experiments/configs/demo/vpl.yaml)
  --force   redo finished runs
TXT
}

OUT=dump/demo DATA=data/demo_world FOLDS="0 1 2 3 4" MODEL="" CONFIG=experiments/configs/demo/vpl.yaml FORCE=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data) DATA=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --folds) FOLDS=${2//,/ }; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --config) CONFIG=$2; shift 2 ;;
    --force) FORCE="--force true"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_VERBOSITY=error
export HF_DATASETS_DISABLE_PROGRESS_BARS=1 HF_HUB_DISABLE_PROGRESS_BARS=1
export TOKENIZERS_PARALLELISM=false PYTHONWARNINGS=ignore
[[ -f "$DATA/dpo/no_prefix/train.jsonl" ]] || { echo "error: $DATA has no dpo/no_prefix; bake it first" >&2; exit 2; }
if [[ -z "$MODEL" ]]; then
  MODEL="$OUT/base"
  [[ -f "$MODEL/config.json" ]] || python -m famous_persona.models --data "$DATA" --out "$MODEL" >/dev/null
fi

finished() { [[ -f "$1/manifest.json" ]] && grep -q '"status": "finished"' "$1/manifest.json"; }

vpl_fold() {
  local fold=$1 run="$OUT/tiny/vpl/fold$1" sft="$OUT/tiny/no_prefix/fold$1/sft"
  mkdir -p "$run"
  if ! finished "$sft"; then
    sft="$run/sft"
    python -m training.sft --config experiments/configs/demo/sft.yaml --data "$DATA" --method no_prefix \
      --fold "$fold" --run_dir "$sft" --model_name_or_path "$MODEL" $FORCE
  fi
  python -m training.vpl --config "$CONFIG" --data "$DATA" --fold "$fold" --run_dir "$run" \
    --model_name_or_path "$sft/model" $FORCE
  python -m evaluation.score_vpl --model "$run/model" --ref_model "$sft/model" --data "$DATA" \
    --test_method no_prefix --fold "$fold" --out "$run/eval/no_prefix" --experiment "$(basename "$OUT")" \
    --model_short tiny --train_method vpl $FORCE
}

for fold in $FOLDS; do
  log="$OUT/tiny/vpl/fold$fold/vpl.log"
  mkdir -p "$(dirname "$log")"
  echo "fold $fold: SFT warm-up (reused when finished) + VPL + scoring; log in $log"
  vpl_fold "$fold" >"$log" 2>&1 || { echo "fold $fold FAILED; see $log" >&2; tail -n 20 "$log" >&2; exit 1; }
done
python -m analysis.aggregate --experiment_dir "$OUT"
