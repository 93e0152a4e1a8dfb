"""What the GPU check runs and how it reads the device, apart from its command line and report: synthetic pairs and
rows shaped like the dataset's, random models of a named shape, the scorer's rate, a step clock and memory readings."""

from __future__ import annotations

import gc
import time
from typing import Any

import torch

GIB = 2**30
SHAPES: dict[str, dict[str, Any]] = {
    "llama-3.2-1b": dict(
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=128256,
        max_position_embeddings=4096,
        rope_theta=500000.0,
        tie_word_embeddings=True,
    ),
    "tiny": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=2048,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
    ),
}


def release() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def peak_gib() -> float:
    return round(torch.cuda.max_memory_allocated() / GIB, 2) if torch.cuda.is_available() else 0.0


def allocated_gib() -> float:
    return round(torch.cuda.memory_allocated() / GIB, 2) if torch.cuda.is_available() else 0.0


def reset_peak() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def step_clock():
    """A trainer callback that times each optimizer step (GPU work included)."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.began = 0.0

        def on_step_begin(self, *unused: Any, **kwargs: Any) -> None:
            synchronize()
            self.began = time.perf_counter()

        def on_step_end(self, *unused: Any, **kwargs: Any) -> None:
            synchronize()
            self.times.append(time.perf_counter() - self.began)

    return StepClock()


# --- synthetic inputs ---------------------------------------------------------------------------------------------


def synthetic_pairs(count: int, prompt_tokens: int, answer_tokens: int, vocab: int, seed: int = 0) -> list:
    """Encoded pairs shaped like the dataset's: people of 8 pairs each share a prefix (two thirds of the prompt),
    chosen and rejected share the prompt, and token ids avoid the first few (special) ids."""
    from famous_persona.chat import EncodedPair

    generator = torch.Generator().manual_seed(seed)

    def ids(length: int) -> list[int]:
        return torch.randint(16, vocab, (length,), generator=generator).tolist()

    shared_length = 2 * prompt_tokens // 3
    pairs, prefix = [], ids(shared_length)
    for index in range(count):
        if index % 8 == 0:
            prefix = ids(shared_length)
        prompt = prefix + ids(prompt_tokens - shared_length)
        pairs.append(EncodedPair(prompt, ids(answer_tokens), ids(answer_tokens)))
    return pairs


def word_tokenizer(words: int):
    """A word-level tokenizer over `w0 ... wN` with a chat template: one token per word, so lengths are exact."""
    from famous_persona.models import train_word_tokenizer

    tokenizer = train_word_tokenizer([" ".join(f"w{i}" for i in range(words))])
    tokenizer.model_max_length = 1_000_000
    return tokenizer


def preference_rows(count: int, prompt_tokens: int, answer_tokens: int, words: int, seed: int = 0) -> list[dict]:
    """Conversational preference rows of random words, as DPOTrainer reads the baked dataset."""
    generator = torch.Generator().manual_seed(seed)

    def text(length: int) -> str:
        return " ".join(f"w{i}" for i in torch.randint(0, words, (length,), generator=generator).tolist())

    return [
        {
            "prompt": [{"role": "user", "content": text(prompt_tokens)}],
            "chosen": [{"role": "assistant", "content": text(answer_tokens)}],
            "rejected": [{"role": "assistant", "content": text(answer_tokens)}],
        }
        for _ in range(count)
    ]


# --- models -------------------------------------------------------------------------------------------------------


def random_model(shape: str, pad_id: int = 0):
    """A causal LM of the named shape with random weights, built straight on the policy's device and dtype."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    from famous_persona.models import placement

    where = placement()
    config = LlamaConfig(**SHAPES[shape], pad_token_id=pad_id, bos_token_id=2, eos_token_id=3)
    with torch.device(where.device):
        model = AutoModelForCausalLM.from_config(config, dtype=where.dtype)
    return model


def scorer_rate(model, pairs: list, pad_id: int) -> float:
    """Pairs per second of the shared-prefix scorer, after one warm-up pass over a few pairs."""
    from evaluation.fast_scoring import score_pairs_fast

    with torch.no_grad():
        score_pairs_fast(model, pairs[:4], pad_id, 16)
        synchronize()
        start = time.perf_counter()
        score_pairs_fast(model, pairs, pad_id, 16)
        synchronize()
    return len(pairs) / (time.perf_counter() - start)
