#!/usr/bin/env bash
# Faithfulness: train with a prefix, then test with the same prefix, a re-sampled one (_seed1), another person's
# (shuffle_) and none, for seen and unseen people. A model that reads its prefix drops when the prefix is wrong.
# The plan lives in planner/ (famous-persona run faithfulness --help lists every option; --dry_run true shows each step and
# why it would run). Finished steps whose key still matches are skipped; the same command resumes an interrupted run.
set -euo pipefail
cd "$(dirname "$0")/.."
exec famous-persona run faithfulness "$@"
