#!/usr/bin/env bash
# The offline demo: synthetic world -> prefixes -> tiny model -> SFT warm-up + DPO for four prefixes (none, passive
# few-shot, inferred persona, gold persona) -> scores and the unseen people's generated responses judged against the
# world's ground truth -> a prompt-only baseline and a faithfulness probe and a sentence attribution from the models
# already trained, and the persona quality per shot count -> a real pretrained model, SmolLM2-135M-Instruct,
# prompt-only on five of the prefixes over a spread of each person's test pairs -> tables -> report. Sized to finish
# in under 10 minutes on 2 CPU cores, install included; the other scripts in experiments/ run the full grids.
# CPU only, no download. The plan is planner/experiments.py's `demo` (famous-persona run demo --help); finished steps
# whose key still matches are skipped, --force redoes everything.
set -euo pipefail
cd "$(dirname "$0")/.."
exec famous-persona run demo "$@"
