"""A tiny random-init sequence-classification reward model (a Llama with one score head) on a word-level tokenizer,
so the filtering stage runs offline in tests and the smoke config. Its scores are random: it checks plumbing, not
quality. Usage: `python -m sampling.tiny_reward --out dump/tiny-reward`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForSequenceClassification

from famous_persona.config import parse_config
from famous_persona.models import train_word_tokenizer
from sampling import prompts, scripted_replies


def vocabulary() -> list[str]:
    """Text whose words the tokenizer learns: the pipeline's prompts and the scripted server's phrases."""
    texts = [*prompts.TASKS.values(), prompts.PERSONAL, prompts.DIVERGENT, prompts.CANDIDATE, prompts.JUDGE]
    return texts + list(scripted_replies.TOPICS) + list(scripted_replies.FRAMES) + list(scripted_replies.USER_TYPES)


def build_tiny_reward_model(out: Path | str, seed: int = 0) -> Path:
    tokenizer = train_word_tokenizer(vocabulary())
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=512, num_labels=1, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = LlamaForSequenceClassification(config)
    out = Path(out)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@dataclass
class TinyRewardArguments:
    out: str = field(default="dump/tiny-reward", metadata={"help": "Where the reward model is saved."})
    seed: int = 0


def main(args: list[str] | None = None) -> None:
    (options,) = parse_config([TinyRewardArguments], args)
    print(f"built a tiny random reward model in {build_tiny_reward_model(options.out, options.seed)}")


if __name__ == "__main__":
    main()
