#!/usr/bin/env bash
# The VPL baseline across folds: the no_prefix run's SFT warm-up (shared with cv.sh in the same folder) -> VPL ->
# scores with z from each person's own train pairs, into the same results.csv (train_method=vpl).
# The plan lives in planner/ (famous-persona run vpl_cv --help lists every option; --dry_run true shows each step and
# why it would run). Finished steps whose key still matches are skipped; the same command resumes an interrupted run.
set -euo pipefail
cd "$(dirname "$0")/.."
exec famous-persona run vpl_cv "$@"
