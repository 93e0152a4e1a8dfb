#!/usr/bin/env bash
# The paper's three claims as measured effects (analysis.claims): (a) unseen accuracy against measured persona
# quality, trained at set quality levels (persona_r{R}p{P}) beside no_prefix and xyw_2s; (b) faithfulness: each
# persona model scored with its own prefix, another person's (shuffle_) and none; (c) planted bias: no_prefix, xyw_2s
# and an accurate persona in the planted-bias world, minority - majority gap and analysis.bias's corrected test.
# Writes <out>/quality, <out>/planted and <out>/report/claims.html; --smoke makes one 12-person planted world serve
# all three claims and trains no xyw_2s reference. The plan is planner/experiments.py's `claims`
# (famous-persona run claims --help: --levels, --folds, --jobs).
set -euo pipefail
cd "$(dirname "$0")/.."
exec famous-persona run claims "$@"
