#!/usr/bin/env bash
# Prompt-only baseline: the base model, untrained, scored with each prefix (train_method=none, fold=-1).
# The plan lives in planner/ (famous-persona run prompt_baseline --help lists every option; --dry_run true shows each step and
# why it would run). Finished steps whose key still matches are skipped; the same command resumes an interrupted run.
set -euo pipefail
cd "$(dirname "$0")/.."
exec famous-persona run prompt_baseline "$@"
