#!/usr/bin/env bash
# Regenerate the FamousPersona dataset with the LLM pipeline (docs/design.md §7) into a dataset directory (docs/design.md §4).
# Resumable: run the same command again after a crash; finished requests come from the on-disk cache.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<TXT
usage: experiments/generate_dataset.sh [--config FILE] [--out DIR] [--dry-run] [--scripted-server] [--key value ...]
  --config FILE       pipeline config (default experiments/configs/generate/full.yaml)
  --out DIR           dataset directory to write (default: the config's 'out')
  --dry-run           print the request, token and cost estimate; send nothing
  --scripted-server   start the scripted local server on port 8011 and build a tiny reward model (smoke.yaml)
  --key value         any other pipeline option (python -m sampling.generation.generate --help lists them)
  --help              this text
The API key is read from the variable named by api_key_env (default OPENAI_API_KEY) and never written anywhere.
TXT
}

CONFIG=experiments/configs/generate/full.yaml
ARGS=() DRY="" SCRIPTED=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --config) CONFIG=$2; shift 2 ;;
    --out) ARGS+=(--out "$2"); shift 2 ;;
    --dry-run) DRY=1; shift ;;
    --scripted-server) SCRIPTED=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
[[ -f "$CONFIG" ]] || { echo "error: no config $CONFIG" >&2; exit 2; }
export TRANSFORMERS_VERBOSITY=error HF_DATASETS_DISABLE_PROGRESS_BARS=1 TOKENIZERS_PARALLELISM=false

if [[ -n "$DRY" ]]; then
  exec python -m sampling.generation.generate --config "$CONFIG" --dry_run true "${ARGS[@]}"
fi
if [[ -n "$SCRIPTED" ]]; then
  export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
  [[ -f dump/tiny-reward/config.json ]] || python -m tests.support.tiny_reward --out dump/tiny-reward >/dev/null
  python -m tests.support.scripted_server --port 8011 >/dev/null &
  SERVER=$!
  trap 'kill "$SERVER" 2>/dev/null || true' EXIT
  for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/8011) 2>/dev/null && break  # the server accepts connections
    sleep 0.1
  done
fi
python -m sampling.generation.generate --config "$CONFIG" "${ARGS[@]}"
