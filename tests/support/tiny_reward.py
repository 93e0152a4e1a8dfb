"""A tiny random-init sequence-classification reward model (a Llama with one score head) on a word-level tokenizer,
so the filtering stage runs offline in tests and the smoke config. Its scores are random: it checks plumbing, not
quality. Usage: `python -m tests.support.tiny_reward --out dump/tiny-reward`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from transformers import LlamaForSequenceClassification
from trl import TrlParser

from famous_persona import judge_prompts
from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.models import TinyShape, build_tiny_model
from sampling.generation import prompts
from tests.support import scripted_replies


def vocabulary() -> list[str]:
    """Text whose words the tokenizer learns: the pipeline's prompts and the scripted server's phrases."""
    texts = [*prompts.TASKS.values(), prompts.PERSONAL, prompts.DIVERGENT, prompts.CANDIDATE, judge_prompts.JUDGE]
    return texts + list(scripted_replies.TOPICS) + list(scripted_replies.FRAMES) + list(scripted_replies.USER_TYPES)


def build_tiny_reward_model(out: Path | str, seed: int = 0) -> Path:
    """One score head on a random-init Llama and a word-level tokenizer of the pipeline's own text."""
    shape = TinyShape(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    return build_tiny_model(vocabulary(), out, seed, shape, LlamaForSequenceClassification, num_labels=1)


@dataclass
class TinyRewardArguments:
    out: str = field(default="dump/tiny-reward", metadata={"help": "Where the reward model is saved."})
    seed: int = 0


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("tiny-reward", [TinyRewardArguments], __doc__, subparsers)


def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (options,) = parse_config(parser or make_parser(), args)
    print(f"built a tiny random reward model in {build_tiny_reward_model(options.out, options.seed)}")


if __name__ == "__main__":
    main()
