#!/usr/bin/env bash
# Per-person models: fold k trains on the k-th person's train pairs alone and scores everyone (that person is seen).
# The plan lives in planner/ (famous-persona run per_person --help lists every option; --dry_run true shows each step and
# why it would run). Finished steps whose key still matches are skipped; the same command resumes an interrupted run.
set -euo pipefail
cd "$(dirname "$0")/.."
exec famous-persona run per_person "$@"
