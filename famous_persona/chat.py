"""The one place that decides what a model sees for a preference record, shared by training and evaluation.

Training hands `conversation(...)` to TRL's DPOTrainer, which applies the chat template; evaluation tokenizes the same
conversation with `encode(...)`, which splits prompt and completion exactly as the trainer does (a test checks this).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from famous_persona.errors import DataError
from famous_persona.methods import parse_method
from famous_persona.schema import DpoRecord, Message, Pair
from famous_persona.wording import Wording, default_wording

logger = logging.getLogger(__name__)

ELLIPSIS = "..."

Messages = list[dict[str, str]]
TOKENIZATIONS = {
    "trl": "the chat template split as TRL's DPOTrainer splits it, exactly the ids training saw",
    "original": "the paper's scorer (reward-bench's DPOInference): the tokenizer's BOS before the prompt and its EOS "
    "after each answer, added even where the chat template already wrote them",
}


@dataclass(frozen=True)
class Conversation:
    prompt: Messages
    chosen: Messages
    rejected: Messages
    truncated_words: int = 0


@dataclass(frozen=True)
class EncodedPair:
    prompt_ids: list[int]
    chosen_ids: list[int]
    rejected_ids: list[int]


def user_turn(method: str, prefix_text: str, question: str, wording: Wording | None = None) -> str:
    """The prefix sits before the question, inside the user turn; persona texts get the wording's lead-in line
    (none when it is empty)."""
    if not prefix_text:
        return question
    lead_in = (wording or default_wording())["lead_in"]
    if parse_method(method).persona and lead_in:
        prefix_text = f"{lead_in}\n{prefix_text}"
    return f"{prefix_text}\n\n{question}"


def pair_record(pair: Pair, user_content: str) -> DpoRecord:
    """A pair as a one-turn preference record whose user turn is `user_content` (the question, maybe prefixed)."""
    return DpoRecord(
        id=pair.id,
        name=pair.name,
        question_type=pair.question_type,
        axis=pair.axis,
        prompt=[Message(role="user", content=user_content)],
        chosen=[Message(role="assistant", content=pair.chosen)],
        rejected=[Message(role="assistant", content=pair.rejected)],
    )


def with_system(messages: Messages, system_prompt: str | None) -> Messages:
    """The system-turn policy every path applies: None leaves the template to decide (SmolLM2's then injects its own
    default message), "" is an empty system turn (which suppresses such a default), any other text is that turn."""
    if system_prompt is None or (messages and messages[0]["role"] == "system"):
        return list(messages)
    return [{"role": "system", "content": system_prompt}, *messages]


def generation_prompt_ids(
    tokenizer: PreTrainedTokenizerBase, messages: Messages, system_prompt: str | None
) -> list[int]:
    """Token ids a model generates from, made exactly as the scoring and training prompts are."""
    return _template_ids(tokenizer, with_system(messages, system_prompt), generation_prompt=True)


def _prompt_messages(record: DpoRecord, system_prompt: str | None) -> Messages:
    return with_system([message.model_dump() for message in record.prompt], system_prompt)


def _template_ids(tokenizer: PreTrainedTokenizerBase, messages: Messages, generation_prompt: bool) -> list[int]:
    out = tokenizer.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=generation_prompt, return_dict=True
    )
    return list(out["input_ids"])


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def encode(tokenizer: PreTrainedTokenizerBase, conv: Conversation, tokenization: str = "trl") -> EncodedPair:
    """Token ids as TRL's DPOTrainer makes them: the completion starts where prompt and prompt+answer diverge. With
    `tokenization="original"`, as the paper's scorer made them from that split (TOKENIZATIONS)."""
    prompt = _template_ids(tokenizer, conv.prompt, generation_prompt=True)
    with_chosen = _template_ids(tokenizer, conv.prompt + conv.chosen, generation_prompt=False)
    with_rejected = _template_ids(tokenizer, conv.prompt + conv.rejected, generation_prompt=False)
    split = min(_common_prefix(prompt, with_chosen), _common_prefix(prompt, with_rejected))
    pair = EncodedPair(prompt[:split], with_chosen[split:], with_rejected[split:])
    return _with_added_specials(tokenizer, pair) if check_tokenization(tokenization) == "original" else pair


def check_tokenization(tokenization: str) -> str:
    """A known tokenization mode, or a DataError listing them."""
    if tokenization not in TOKENIZATIONS:
        raise DataError(f"tokenization must be one of {sorted(TOKENIZATIONS)}, got {tokenization!r}")
    return tokenization


def _with_added_specials(tokenizer: PreTrainedTokenizerBase, pair: EncodedPair) -> EncodedPair:
    """BOS before the prompt and EOS after each answer, whatever the template wrote: what DPOInference.tokenize_row
    does, so a template that writes its own BOS (Llama-3) or ends an answer with EOS (ChatML) gets them twice."""
    if tokenizer.bos_token_id is None or tokenizer.eos_token_id is None:
        raise DataError(f"tokenization original: the tokenizer of {tokenizer.name_or_path} has no BOS or EOS token")
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    return EncodedPair([bos, *pair.prompt_ids], [*pair.chosen_ids, eos], [*pair.rejected_ids, eos])


def _length(tokenizer: PreTrainedTokenizerBase, conv: Conversation) -> int:
    ids = encode(tokenizer, conv)
    return len(ids.prompt_ids) + max(len(ids.chosen_ids), len(ids.rejected_ids))


def _drop_leading_words(prompt: Messages, n_words: int) -> Messages:
    """Cut the first words of the last user turn, where the prefix sits; the question at its end is kept."""
    last = max(i for i, message in enumerate(prompt) if message["role"] == "user")
    words = prompt[last]["content"].split(" ")
    content = " ".join([ELLIPSIS, *words[n_words:]]) if n_words else prompt[last]["content"]
    return [*prompt[:last], {**prompt[last], "content": content}, *prompt[last + 1 :]]


def conversation(
    record: DpoRecord,
    tokenizer: PreTrainedTokenizerBase | None = None,
    max_length: int | None = None,
    system_prompt: str | None = None,
) -> Conversation:
    """The messages a model sees for a record. When the longer answer would not fit in `max_length` tokens, whole
    words are cut from the start of the user turn (the prefix), never from the question or the answers."""
    prompt = _prompt_messages(record, system_prompt)
    sides = ([record.chosen[0].model_dump()], [record.rejected[0].model_dump()])
    conv = Conversation(prompt, *sides)
    if tokenizer is None or max_length is None or _length(tokenizer, conv) <= max_length:
        return conv
    last_user = max(i for i, message in enumerate(prompt) if message["role"] == "user")
    n_words = len(prompt[last_user]["content"].split(" "))
    low, high = 1, n_words - 1
    while low < high:
        middle = (low + high) // 2
        if _length(tokenizer, Conversation(_drop_leading_words(prompt, middle), *sides)) <= max_length:
            high = middle
        else:
            low = middle + 1
    cut = Conversation(_drop_leading_words(prompt, low), *sides, truncated_words=low)
    if _length(tokenizer, cut) > max_length:
        raise DataError(f"record {record.id!r}: question and answers alone exceed max_length={max_length} tokens")
    logger.info("record %s: cut %d leading prefix words to fit %d tokens", record.id, low, max_length)
    return cut
