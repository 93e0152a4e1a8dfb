#!/usr/bin/env bash
# Per-person models: fold k trains on the k-th person's train pairs alone and scores everyone (that person is seen).
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT_NAME=per_person exec bash experiments/cv.sh --scheme person "$@"
