#!/usr/bin/env bash
# Cross-validation over people: one model per (prefix method, fold), each scored on every person's test pairs
# with each prefix method of its training set. --scheme picks the folds: persona folds (default), leave-one-axis-out,
# or one model per person.
# The plan lives in planner/ (famous-persona run cv --help lists every option; --dry_run true shows each step and
# why it would run). Finished steps whose key still matches are skipped; the same command resumes an interrupted run.
set -euo pipefail
cd "$(dirname "$0")/.."
exec famous-persona run cv "$@"
