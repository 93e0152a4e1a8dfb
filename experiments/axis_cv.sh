#!/usr/bin/env bash
# Leave-one-axis-out cross-validation: fold k holds out every person on the k-th axis (held-out sets overlap).
# Without --data it uses a world whose people represent two axes each (experiments/configs/worlds/axes.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT_NAME=axis_cv WORLD=axes exec bash experiments/cv.sh --scheme axis "$@"
