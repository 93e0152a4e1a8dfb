"""Bad input is a clear error naming file, line and field; writes are atomic."""

from __future__ import annotations

import json
import shutil

import pytest

from famous_persona import io
from famous_persona.errors import DataError
from famous_persona.io import DatasetDir, RecordError, read_json, read_jsonl, write_jsonl
from famous_persona.schema import Pair

GOOD = {
    "id": "a-1",
    "name": "Ann Lee",
    "prompt": "What should I cook?",
    "chosen": "Lentils.",
    "rejected": "Steak.",
    "question_type": "personal",
    "axis": None,
    "split": "train",
}


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def error_for(tmp_path, second_line: str, **kwargs) -> RecordError:
    path = write_lines(tmp_path / "pairs.jsonl", [json.dumps(GOOD), second_line])
    with pytest.raises(RecordError) as caught:
        read_jsonl(path, Pair, **kwargs)
    assert caught.value.path == path and caught.value.line == 2
    assert str(path) in str(caught.value) and ":2:" in str(caught.value)
    return caught.value


def variant(**changes) -> str:
    return json.dumps({**GOOD, "id": "a-2", **changes})


def test_malformed_json_line_names_the_line(tmp_path):
    assert "malformed JSON" in str(error_for(tmp_path, '{"id": "a-2", "name": '))


def test_missing_field_is_named(tmp_path):
    record = {**GOOD, "id": "a-2"}
    del record["chosen"]
    assert error_for(tmp_path, json.dumps(record)).field == "chosen"


def test_wrong_type_is_named_and_not_coerced(tmp_path):
    assert error_for(tmp_path, variant(prompt=42)).field == "prompt"
    assert error_for(tmp_path, variant(question_type="common")).field == "question_type"


def test_unknown_field_is_rejected(tmp_path):
    assert error_for(tmp_path, variant(chosen_text="x")).field == "chosen_text"


def test_duplicate_id(tmp_path):
    error = error_for(tmp_path, json.dumps(GOOD), unique="id")
    assert error.field == "id" and "first on line 1" in str(error)


def test_unknown_person(tmp_path):
    error = error_for(tmp_path, variant(name="Nobody"), known={"name": ["Ann Lee"]})
    assert error.field == "name" and "Nobody" in str(error)


def test_empty_answer(tmp_path):
    assert error_for(tmp_path, variant(rejected="")).field == "rejected"
    assert error_for(tmp_path, variant(rejected="   ")).field == "rejected"


def test_chosen_identical_to_rejected(tmp_path):
    assert "identical" in str(error_for(tmp_path, variant(rejected=GOOD["chosen"])))


def test_divergent_pair_needs_an_axis(tmp_path):
    assert "axis" in str(error_for(tmp_path, variant(question_type="divergent")))


def test_non_object_line(tmp_path):
    assert "JSON object" in str(error_for(tmp_path, "[1, 2]"))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(RecordError, match="file not found"):
        read_jsonl(tmp_path / "absent.jsonl", Pair)


def test_dataset_catches_pairs_of_unknown_people(world, tmp_path):
    copy = DatasetDir(shutil.copytree(world.root, tmp_path / "copy"))
    lines = copy.pairs_path.read_text().splitlines()
    lines[5] = lines[5].replace(json.loads(lines[5])["name"], "Someone Else")
    write_lines(copy.pairs_path, lines)
    with pytest.raises(RecordError) as caught:
        copy.pairs()
    assert caught.value.line == 6 and caught.value.field == "name"


def test_every_row_is_kept(world):
    raw = [line for line in world.pairs_path.read_text().splitlines() if line.strip()]
    assert len(world.pairs()) == len(raw)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "out.jsonl"
    write_jsonl(path, [{"a": 1}])

    def broken():
        yield {"a": 2}
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        write_jsonl(path, broken())
    assert path.read_text() == '{"a": 1}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_non_utf8_bytes_name_the_line_and_column(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + variant().encode().replace(b"a-2", b"a-\xe9", 1) + b"\n")
    with pytest.raises(RecordError, match="not UTF-8 text") as caught:
        read_jsonl(path, Pair)
    assert caught.value.line == 2 and "0xe9" in str(caught.value)


def test_a_cut_last_line_is_named_as_a_cut_file(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + variant()[:30], encoding="utf-8")
    with pytest.raises(RecordError, match="ends mid-line") as caught:
        read_jsonl(path, Pair)
    assert caught.value.line == 2


def test_a_line_past_the_limit_is_refused(tmp_path, monkeypatch):
    path = write_lines(tmp_path / "pairs.jsonl", [json.dumps(GOOD), variant(prompt="x" * 5000)])
    monkeypatch.setattr(io, "MAX_LINE_BYTES", 4096)
    with pytest.raises(RecordError, match="longer than 4096 bytes") as caught:
        read_jsonl(path, Pair)
    assert caught.value.line == 2
    monkeypatch.setattr(io, "MAX_LINE_BYTES", 8192)
    assert len(read_jsonl(path, Pair)) == 2


def test_a_line_exactly_at_the_limit_is_read(tmp_path, monkeypatch):
    path = write_lines(tmp_path / "pairs.jsonl", [json.dumps(GOOD)])
    monkeypatch.setattr(io, "MAX_LINE_BYTES", len(json.dumps(GOOD)))
    assert len(read_jsonl(path, Pair)) == 1


def test_json_file_in_latin1_names_its_line(tmp_path):
    path = tmp_path / "summary.json"
    path.write_bytes(b'{\n  "model": "caf\xe9"\n}\n')
    with pytest.raises(RecordError, match="not UTF-8") as caught:
        read_json(path)
    assert caught.value.line == 2


def test_baked_rows_of_a_method_outside_the_grammar_are_refused(world):
    with pytest.raises(DataError, match="unknown suffix '_foo'"):
        world.dpo("xyw_2s_foo", "train")
