"""One console command for every stage: `famous-persona <command> [--config file.yaml] [--key value ...]`.

Each command runs a stage module by name, so this core package never imports a stage.
"""

from __future__ import annotations

import runpy
import sys

COMMANDS = {
    "world": ("sampling.synthetic", "make a synthetic persona world"),
    "generate": ("sampling.generate", "regenerate the dataset with LLMs (all stages; --dry_run true estimates)"),
    "gen-personas": ("sampling.gen_personas", "generation stage 1: personas.jsonl (+ proposals per axis)"),
    "gen-questions": ("sampling.gen_questions", "generation stages 2-3: personal and divergent questions"),
    "gen-candidates": ("sampling.gen_candidates", "generation stage 4: candidate answers"),
    "gen-filter": ("sampling.gen_filter", "generation stage 5: reward band + k-means diversity"),
    "gen-judge": ("sampling.gen_judge", "generation stage 6: persona judge knockout"),
    "gen-split": ("sampling.gen_split", "generation stage 7: per-person split, pairs.jsonl"),
    "hub-import": ("sampling.hub_import", "import zilu-peter-tang/famous-persona (or a local copy)"),
    "prefixes": ("sampling.prefixes", "build prefixes/<method>.jsonl"),
    "bake": ("sampling.bake", "bake dpo/<method>/{train,test}.jsonl"),
    "persona-quality": ("sampling.persona_quality", "inferred personas vs gold: ROUGE-L, MiniLM cosine, attributes"),
    "tiny-model": ("famous_persona.models", "build the tiny local model from a dataset's text"),
    "sft": ("training.sft", "SFT warm-up on chosen answers"),
    "train": ("training.dpo", "DPO training on one prefix method and fold"),
    "score": ("evaluation.score", "score a model on a test prefix"),
    "benchmark": ("evaluation.benchmark", "fast vs naive scoring speed on the same pairs"),
    "vpl": ("training.vpl", "VPL baseline: DPO with a trained latent-user encoder"),
    "score-vpl": ("evaluation.score_vpl", "score a VPL model (z from each person's train pairs)"),
    "aggregate": ("analysis.aggregate", "results.csv and the main table"),
    "bias": ("analysis.bias", "improvement by demographic group: tests, CIs, corrected p-values"),
    "attribution": ("analysis.attribution", "which prefix sentences move the margin (ablations + LASSO)"),
    "dataset-stats": ("analysis.dataset_stats", "counts, lengths, leakage and axis disagreement of a dataset"),
    "report": ("analysis.report", "report/index.html with every table and figure"),
}


def usage() -> str:
    lines = ["usage: famous-persona <command> [--help] [options]", "", "commands:"]
    lines += [f"  {name:<14} {help_text}  (python -m {module})" for name, (module, help_text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(usage())
        raise SystemExit(0)
    if not argv or argv[0] not in COMMANDS:
        print(usage(), file=sys.stderr)
        raise SystemExit(2)
    module = COMMANDS[argv[0]][0]
    sys.argv = [f"famous-persona {argv[0]}", *argv[1:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
