"""Hub import on a local directory laid out like the hub dataset; offline, the hub id fails at once."""

from __future__ import annotations

import json
import time

import pytest

from famous_persona.errors import DataError
from sampling.generation.hub_import import HubImportConfig, import_dataset, main

ROWS = {
    "train": [
        {
            "name": "Serena Williams",
            "prompt": "Plan my week?",
            "yw": "Train early.",
            "yl": "Sleep in.",
            "question_type": "personal",
            "axis": None,
        },
        {
            "name": "Tiger Woods",
            "prompt": [{"role": "user", "content": "Best sport?"}],
            "yw": [{"role": "user", "content": "Best sport?"}, {"role": "assistant", "content": "Golf."}],
            "yl": [{"role": "assistant", "content": "Curling."}],
            "question_type": "common",
            "axis": "sports",
        },
    ],
    "test": [
        {
            "name": "Serena Williams",
            "prompt": "A snack?",
            "yw": "Fruit.",
            "yl": "Crisps.",
            "question_type": "common",
            "axis": None,
        },
    ],
}


def _fixture(root, rows=ROWS):
    root.mkdir(parents=True, exist_ok=True)
    for split, records in rows.items():
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return root


def test_local_copy_imports_into_a_valid_dataset(tmp_path):
    source = _fixture(tmp_path / "hub")
    dataset = import_dataset(HubImportConfig(source=str(source), out=str(tmp_path / "out")))
    pairs = dataset.pairs()
    assert [p.name for p in dataset.personas()] == ["Serena Williams", "Tiger Woods"]
    assert sorted((p.split, p.question_type) for p in pairs) == [
        ("test", "divergent"),
        ("train", "divergent"),
        ("train", "personal"),
    ]
    golf = next(p for p in pairs if p.name == "Tiger Woods")
    assert (golf.prompt, golf.chosen, golf.rejected, golf.axis) == ("Best sport?", "Golf.", "Curling.", "sports")
    assert next(p for p in pairs if p.split == "test").axis == "sports"


def test_chosen_rejected_columns_work_too(tmp_path):
    rows = {
        "train": [
            {
                "name": "Serena Williams",
                "prompt": "Q?",
                "chosen": "A.",
                "rejected": "B.",
                "question_type": "personal",
                "axis": None,
            }
        ]
    }
    dataset = import_dataset(HubImportConfig(source=str(_fixture(tmp_path / "hub", rows)), out=str(tmp_path / "o")))
    assert dataset.pairs()[0].chosen == "A."


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"question_type": "shared"}, "field 'question_type' unknown question type"),
        ({"name": "Nobody Known"}, "field 'name' 'Nobody Known' is not in"),
        ({"yw": None}, "field 'yw/chosen' missing"),
        ({"yw": 5}, "field 'yw' expected a string"),
    ],
)
def test_mismatched_rows_are_clear_errors(tmp_path, change, message):
    rows = {"train": [{**ROWS["train"][0], **change}]}
    with pytest.raises(DataError, match=message) as error:
        import_dataset(HubImportConfig(source=str(_fixture(tmp_path / "hub", rows)), out=str(tmp_path / "o")))
    assert "hub[train] row:1:" in str(error.value)


def test_offline_hub_id_fails_at_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(SystemExit) as stop:
        main(["--out", str(tmp_path / "o")])
    assert time.monotonic() - start < 5 and stop.value.code == 2
    assert "hf download zilu-peter-tang/famous-persona" in capsys.readouterr().err
