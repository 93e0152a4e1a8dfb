"""One formatting for training and evaluation: chat.encode splits exactly as TRL's DPOTrainer; truncation is
deliberate and keeps the question."""

from __future__ import annotations

from collections import Counter

import pytest
from trl import DPOConfig, DPOTrainer

from famous_persona import chat
from famous_persona.errors import DataError
from famous_persona.models import load_model, load_tokenizer, train_word_tokenizer
from famous_persona.schema import DpoRecord, Message
from training.run_data import RunArguments, to_dataset


def test_encode_matches_trl_tokenization(world, tiny_model, tmp_path):
    tokenizer = load_tokenizer(tiny_model)
    records = world.dpo("xyw_2s", "train")[:6]
    rows = to_dataset(records, tokenizer, RunArguments(), 512, Counter())
    config = DPOConfig(output_dir=str(tmp_path), report_to="none", use_cpu=True, bf16=False, max_length=512)
    trainer = DPOTrainer(
        model=load_model(tiny_model),
        ref_model=load_model(tiny_model),
        args=config,
        train_dataset=rows,
        processing_class=tokenizer,
    )
    for record, prepared in zip(records, trainer.train_dataset, strict=True):
        ours = chat.encode(tokenizer, chat.conversation(record))
        assert ours.prompt_ids == prepared["prompt_ids"]
        assert ours.chosen_ids == prepared["chosen_ids"]
        assert ours.rejected_ids == prepared["rejected_ids"]


def test_completion_ends_with_eos_and_prompt_with_generation_prompt(world, tiny_model):
    tokenizer = load_tokenizer(tiny_model)
    ids = chat.encode(tokenizer, chat.conversation(world.dpo("persona_gold", "test")[0]))
    assert ids.chosen_ids[-1] == tokenizer.eos_token_id
    assert tokenizer.convert_ids_to_tokens(ids.prompt_ids[-1]) == "<|assistant|>"


def test_system_prompt_is_added_once(world):
    record = world.dpo("name", "test")[0]
    conv = chat.conversation(record, system_prompt="Be brief.")
    assert conv.prompt[0] == {"role": "system", "content": "Be brief."}
    assert [m["role"] for m in conv.prompt].count("system") == 1


def _long_record(n_words: int) -> DpoRecord:
    prefix = " ".join(["lentils"] * n_words)
    return DpoRecord(
        id="x-1",
        name="Ann",
        question_type="personal",
        axis=None,
        prompt=[Message(role="user", content=f"{prefix}\n\nWhat should I cook tonight?")],
        chosen=[Message(role="assistant", content="tofu and lentils")],
        rejected=[Message(role="assistant", content="bacon and butter")],
    )


def test_long_prefix_is_cut_from_its_start_and_the_question_survives(tiny_model):
    tokenizer = load_tokenizer(tiny_model)
    conv = chat.conversation(_long_record(300), tokenizer, max_length=64)
    ids = chat.encode(tokenizer, conv)
    assert conv.truncated_words > 0
    assert len(ids.prompt_ids) + len(ids.chosen_ids) <= 64
    assert conv.prompt[-1]["content"].startswith(chat.ELLIPSIS)
    assert conv.prompt[-1]["content"].endswith("What should I cook tonight?")
    untouched = chat.conversation(_long_record(5), tokenizer, max_length=64)
    assert untouched.truncated_words == 0


def test_question_that_cannot_fit_is_an_error(tiny_model):
    with pytest.raises(DataError, match="exceed max_length"):
        chat.conversation(_long_record(3), load_tokenizer(tiny_model), max_length=8)


def test_tiny_tokenizer_ids_do_not_depend_on_how_often_words_occur():
    one = train_word_tokenizer(["the answer is yes", "yes yes yes"])
    other = train_word_tokenizer(["is the answer", "the the the yes"])
    assert one.get_vocab() == other.get_vocab()
    assert one.convert_ids_to_tokens(one("Yes, the answer")["input_ids"]) == ["yes", "<unk>", "the", "answer"]
