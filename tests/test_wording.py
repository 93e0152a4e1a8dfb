"""The replaceable wording (famous_persona/wording.py): the shipped words stay as they were, a `--wording` file changes
what a model is shown and what the run records, and a bad file is refused by file and field with exit status 2."""

from __future__ import annotations

import json
import shutil

import pytest

from evaluation import judge_responses
from famous_persona.chat import user_turn
from famous_persona.errors import DataError
from famous_persona.io import DatasetDir, read_json, write_json, write_jsonl
from famous_persona.llm.backend import Completion
from famous_persona.llm.config import BACKENDS, register_backend
from famous_persona.wording import SLOTS, load_wording
from sampling.prefixes import bake, build

DEFAULT_DIGESTS = {
    "lead_in": "040de889e932649f4628e8c911f80485a697ef015963b9e77a69ffc4218a9963",
    "persona": "2a3f07ff83d4ad57d812b8a9a11a931971fee8536fa3b2275339c5c54ccdb411",
    "judge": "3a2e016a170794c9ebdcb92dc22d710f098ce3c6b757afb23e1c957e9a5f0cc8",
}
"""The shipped wording's digests: a change to famous_persona/wording.yaml changes the prompt-only numbers, so it
must be made on purpose, here too."""
TASK_SET = "xyw_2s+persona_task_2s_from_persona_gold_ratio0.25"


class _Recorder:
    """A toy backend kind that keeps every request it is sent and answers each with one fixed reply."""

    concurrency = 4

    def __init__(self, sent: list, reply: str):
        self.sent, self.reply = sent, reply

    async def run(self, requests, on_done):
        for request in requests:
            self.sent.append(dict(request.messages))
            on_done(request, Completion(self.reply, "stop", 3, 9))
        return {}


@pytest.fixture
def recorder(monkeypatch, tmp_path):
    """(requests sent, a backend YAML naming the recorder): replies read as a persona and as a judge's verdict."""
    sent: list = []
    monkeypatch.setitem(BACKENDS, "recorder", None)
    register_backend("recorder", lambda config, tally, seed: _Recorder(sent, "A keen cyclist.\nPreferred: 1"))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "toy.yaml").write_text("model: toy\nbackend: recorder\n", encoding="utf-8")
    return sent, tmp_path / "models" / "toy.yaml"


def _copy(world, tmp_path) -> DatasetDir:
    return DatasetDir(shutil.copytree(world.root, tmp_path / "world"))


def _words(tmp_path, **fields: str):
    path = tmp_path / "words.yaml"
    path.write_text("".join(f"{key}: {json.dumps(value)}\n" for key, value in fields.items()), encoding="utf-8")
    return path


def test_the_shipped_wording_fills_every_slot_and_keeps_its_digests():
    wording = load_wording()
    assert set(wording.texts) == set(SLOTS)
    assert {part: wording.digest(part) for part in {slot.part for slot in SLOTS.values()}} == DEFAULT_DIGESTS
    assert wording.record(*DEFAULT_DIGESTS) == {part: {"sha256": digest} for part, digest in DEFAULT_DIGESTS.items()}


def test_a_lead_in_file_changes_the_baked_turn_and_the_recorded_digest(world, tmp_path):
    data = _copy(world, tmp_path)
    words = _words(tmp_path, lead_in="About the person asking:")
    bake.main(["--data", str(data.root), "--methods", "persona_gold", "xyw_2s", "--wording", str(words)])
    rows = data.dpo("persona_gold", "test")
    assert rows and all(row.prompt[-1].content.startswith("About the person asking:\n") for row in rows)
    assert data.dpo("xyw_2s", "test") == world.dpo("xyw_2s", "test")
    baked = read_json(data.manifest_path)["baked"]
    recorded = baked["persona_gold"]["wording"]["lead_in"]
    assert recorded == {"sha256": load_wording(words).digest("lead_in"), "path": str(words)}
    assert recorded["sha256"] != DEFAULT_DIGESTS["lead_in"] and "wording" not in baked["xyw_2s"]
    assert user_turn("persona_gold", "P.", "Q?", load_wording(_words(tmp_path, lead_in=""))) == "P.\n\nQ?"


def test_a_persona_request_file_words_the_persona_task_rows(world, tmp_path):
    data = _copy(world, tmp_path)
    words = _words(tmp_path, persona_from_pairs="Who asked these {n}?\n\n{shots}", persona_shot="- {question}")
    bake.main(["--data", str(data.root), "--methods", TASK_SET, "--wording", str(words)])
    task = [row for row in data.dpo(TASK_SET, "train") if row.question_type == "persona_task"]
    assert task and all(row.prompt[-1].content.startswith("Who asked these 2?\n\n- ") for row in task)
    recorded = read_json(data.manifest_path)["baked"][TASK_SET]["wording"]
    assert recorded == {"persona": {"sha256": load_wording(words).digest("persona"), "path": str(words)}}


def test_a_persona_request_file_changes_what_the_inference_model_is_asked(world, tmp_path, recorder):
    sent, model = recorder
    data = _copy(world, tmp_path)
    words = _words(tmp_path, persona_task="Task: picture a user.", persona_from_name="Picture {name}.")
    args = ["--data", str(data.root), "--methods", "persona_gold_toy", "--inference_models", str(model.parent)]
    build.main([*args, "--wording", str(words)])
    names = {person.name for person in data.personas()}
    assert {request["user"] for request in sent} == {f"Picture {name}." for name in names}
    assert {request["system"] for request in sent} == {"Task: picture a user."}
    recorded = read_json(data.manifest_path)["prefixes"]["persona_gold_toy"]["wording"]
    assert recorded == {"persona": {"sha256": load_wording(words).digest("persona"), "path": str(words)}}


def _generations(world, tmp_path):
    """One pretend generation run over two test pairs, answered with the rejected answer."""
    pairs = [pair for pair in world.pairs() if pair.split == "test"][:2]
    out = tmp_path / "eval"
    keys = ("id", "name", "question_type")
    write_jsonl(
        out / "generations.jsonl",
        [{**pair.model_dump(include=set(keys)), "seen": False, "fold": 0, "response": pair.rejected} for pair in pairs],
    )
    config = dict(data=str(world.root), experiment="e", model_short="tiny", train_method="persona_gold")
    config.update(test_method="persona_gold", fold=0, fold_scheme="fold")
    write_json(out / "manifest.json", {"stage": "evaluation.generate", "config": config, "status": "finished"})
    return out, pairs


def test_a_judge_file_changes_the_judge_request_and_the_summary_records_it(world, tmp_path, recorder):
    sent, backend = recorder
    out, pairs = _generations(world, tmp_path)
    request = "Would {name} rather read A or B?\n{question}\nA: {first}\nB: {second}\nEnd with 'Preferred: 1' or 2."
    words = _words(tmp_path, judge_request=request)
    judge_responses.main(
        ["--out", str(out), "--judge", "persona", "--judge_backend", str(backend), "--wording", str(words)]
    )
    assert len(sent) == 2 * len(pairs)
    assert all(r["user"].startswith("Would ") and r["system"] == load_wording()["judge_task"] for r in sent)
    summary = read_json(out / "judge_persona_summary.json")
    assert summary["wording"] == {"judge": {"sha256": load_wording(words).digest("judge"), "path": str(words)}}
    default = tmp_path / "default"
    shutil.copytree(out, default, ignore=shutil.ignore_patterns("cache", "judge_*"))
    judge_responses.main(["--out", str(default), "--judge", "persona", "--judge_backend", str(backend)])
    assert read_json(default / "judge_persona_summary.json")["wording"] == {
        "judge": {"sha256": DEFAULT_DIGESTS["judge"]}
    }
    assert sent[-1]["user"].startswith("You are predicting the preferences of ")


@pytest.mark.parametrize(
    ("fields", "field", "problem"),
    [
        ({"persona_from_name": "Describe the user."}, "persona_from_name", "lacks the placeholder(s) {name}"),
        ({"judge_request": "{name}: {question} {first}"}, "judge_request", "lacks the placeholder(s) {second}"),
        ({"persona_shot": "{question} ({answer})"}, "persona_shot", "{answer} the code does not fill"),
        ({"persona_shot": "{question"}, "persona_shot", "is not a template"),
        ({"lead_in": 3}, "lead_in", "must be a text"),
        ({"lede_in": "Known:"}, "lede_in", "is not a wording field"),
    ],
)
def test_a_bad_wording_file_is_refused_by_file_and_field(tmp_path, fields, field, problem):
    path = tmp_path / "words.yaml"
    path.write_text("".join(f"{key}: {json.dumps(value)}\n" for key, value in fields.items()), encoding="utf-8")
    with pytest.raises(DataError) as refused:
        load_wording(path)
    assert str(refused.value).startswith(f"{path}: field '{field}'") and problem in str(refused.value)


@pytest.mark.parametrize("stage", [bake.main, build.main, judge_responses.main])
def test_every_stage_refuses_a_bad_wording_file_with_exit_status_2(tmp_path, capsys, stage):
    words = _words(tmp_path, judge_request="{name}", persona_from_name="Who?", lead_in="Known:")
    options = ["--out", str(tmp_path)] if stage is judge_responses.main else ["--data", str(tmp_path)]
    with pytest.raises(SystemExit) as stop:
        stage([*options, "--wording", str(words)])
    error = capsys.readouterr().err
    assert stop.value.code == 2 and f"{words}: field '" in error and "lacks the placeholder(s)" in error
