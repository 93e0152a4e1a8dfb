#!/usr/bin/env bash
# The small model as its own inference model. It trains on persona_xy_4s rows mixed with the persona-inference task
# (k train pairs in, the person's gold persona preferred over another person's), and after every epoch it re-infers
# the persona_xy_4s prefixes itself, which re-bakes the rows it trains on. Then the trained model and the untrained
# base infer personas for everyone from the same 4 shots, and their quality is printed for seen and unseen people next
# to the templated inference. The plan is planner/experiments.py's `self_inference` (--folds, --ratio, --tokens).
set -euo pipefail
cd "$(dirname "$0")/.."
exec famous-persona run self_inference "$@"
