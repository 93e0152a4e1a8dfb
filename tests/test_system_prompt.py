"""One system-turn policy on every path: scoring (chat.encode), training (the template rendered then tokenized, as
TRL does with chat.conversation) and generation (chat.generation_prompt_ids) see the same prompt token ids, on
SmolLM2's template (a default system message when none is given) and on a Llama-3-style one that injects a date."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from famous_persona import chat
from famous_persona.schema import DpoRecord, Message

DATED = (
    "{{ '<|im_start|>system\\nToday is ' + (date_string if date_string is defined else '26 Jul 2024') }}"
    "{% if messages[0]['role'] == 'system' %}{{ '\\n' + messages[0]['content'] }}{% endif %}{{ '<|im_end|>\\n' }}"
    "{% for message in messages %}{% if message['role'] != 'system' %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
RECORD = DpoRecord(
    id="p1",
    name="Ada Lovelace",
    question_type="personal",
    axis="style",
    prompt=[Message(role="user", content="Known: likes short answers.\n\nHow should I start a garden?")],
    chosen=[Message(role="assistant", content="Plant herbs in pots.")],
    rejected=[Message(role="assistant", content="A garden is a long story that begins with soil.")],
)


@pytest.fixture(scope="module", params=["smollm2", "llama3-style"])
def tokenizer(request, smollm2):
    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    if request.param == "llama3-style":
        tokenizer.chat_template = DATED
    return tokenizer


@pytest.mark.parametrize("system_prompt", [None, "", "Answer as the user would like."])
def test_every_path_sees_the_same_prompt_ids(tokenizer, system_prompt):
    conv = chat.conversation(RECORD, tokenizer, 512, system_prompt)
    scored = chat.encode(tokenizer, conv)
    generated = chat.generation_prompt_ids(tokenizer, [m.model_dump() for m in RECORD.prompt], system_prompt)
    assert generated[: len(scored.prompt_ids)] == scored.prompt_ids
    assert tokenizer.decode(generated[len(scored.prompt_ids) :]).strip() in ("", "<|im_start|>assistant")
    text = tokenizer.apply_chat_template(conv.prompt, tokenize=False, add_generation_prompt=True)
    assert tokenizer(text, add_special_tokens=False)["input_ids"] == generated


def test_the_policy_decides_the_system_turn(tokenizer):
    def text(system_prompt):
        return tokenizer.decode(
            chat.generation_prompt_ids(tokenizer, [{"role": "user", "content": "hi"}], system_prompt)
        )

    assert "Say hello." in text("Say hello.")
    if tokenizer.chat_template != DATED:
        assert "SmolLM" in text(None)
        assert "SmolLM" not in text("")


def test_persona_inference_on_smollm2_uses_the_training_recipes_system_turn(monkeypatch):
    import asyncio

    from famous_persona.config import read_config
    from famous_persona.decoding import Generated
    from famous_persona.llm import local
    from famous_persona.llm.backend import Tally, make_request
    from famous_persona.llm.config import BackendConfig, open_backend

    config = read_config(Path("experiments/configs/inference/smollm2.yaml"), BackendConfig)
    recipe = (Path("experiments/configs/models/smollm2/dpo.yaml")).read_text()
    assert config.system_prompt == "" and 'system_prompt: ""' in recipe
    assert config.params(0, 0)["system_prompt"] == ""
    seen = []
    monkeypatch.setattr(local, "load_model", lambda *args, **kwargs: None)
    reply = Generated("a persona", True, 1, 1)
    monkeypatch.setattr(local, "generate", lambda *args, **kwargs: seen.append(kwargs["system_prompt"]) or [reply])
    backend = open_backend(config, Tally())
    request = make_request("r", config.model, [("user", "hi")], {"max_tokens": 4, "seed": 1})
    asyncio.run(backend.run([request], lambda *args: None))
    assert seen == [""]
