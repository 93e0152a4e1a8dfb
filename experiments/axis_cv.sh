#!/usr/bin/env bash
# Leave-one-axis-out cross-validation: fold k holds out every person on the k-th axis (held-out sets overlap).
# Without --data it uses a world whose people represent two axes each (experiments/configs/worlds/axes.yaml).
# The plan lives in planner/ (famous-persona run axis_cv --help lists every option; --dry_run true shows each step and
# why it would run). Finished steps whose key still matches are skipped; the same command resumes an interrupted run.
set -euo pipefail
cd "$(dirname "$0")/.."
exec famous-persona run axis_cv "$@"
