"""Hub import on a dataset laid out like the release (tests/support/hub_shaped.py), made and imported through the same
commands as the real data: counts, question types and axes, people without a written persona, the people file's
persona columns as prefix methods that build, bake and plan without a model, and bad rows as one-line errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from famous_persona.errors import DataError
from famous_persona.io import DatasetDir, read_json, read_rows, write_jsonl
from famous_persona.methods import parse_method, released_name
from planner.plans import synthetic
from sampling.generation.hub_import import HubImportConfig, import_dataset, main
from sampling.prefixes.bake import bake
from sampling.prefixes.build import write_prefixes
from tests.support import hub_shaped

ROOT = Path(__file__).resolve().parents[1]
PER_PERSON = 6
GOLD = "persona_gold_gpt4-released"
TRAIN, TEST = (hub_shaped.PAIR_FILES[split] for split in ("train", "test"))


def command(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hub") / "famous-persona"
    done = command("tests.support.hub_shaped", str(out), "--pairs_per_person", str(PER_PERSON))
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def imported(release, tmp_path_factory) -> DatasetDir:
    out = tmp_path_factory.mktemp("imported") / "data"
    done = command("sampling.generation.hub_import", "--source", str(release), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert f"people-file column persona_gold_gpt4: {GOLD}" in done.stdout
    return DatasetDir(out)


def copy_of(release: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(release, tmp_path / "famous-persona"))


def test_the_release_imports_with_its_people_pairs_and_splits(release, imported):
    rows = {split: read_rows(release / name) for split, name in hub_shaped.PAIR_FILES.items()}
    pairs = imported.pairs()
    assert len(imported.personas()) == 50 and len({p.name for p in pairs}) == 50
    assert {split: sum(p.split == split for p in pairs) for split in rows} == {s: len(r) for s, r in rows.items()}
    assert all(sum(p.name == name for p in pairs) == PER_PERSON for name in {p.name for p in pairs})
    counts = read_json(imported.manifest_path)["counts"]
    assert counts == {"people": 50, "pairs": len(pairs), "train": len(rows["train"]), "test": len(rows["test"])}
    first = rows["train"][0]
    assert (pairs[0].prompt, pairs[0].chosen, pairs[0].rejected) == (first["prompt"], first["yw"], first["yl"])
    assert not synthetic(imported.root)


def test_the_stand_in_is_the_same_for_a_seed_and_changes_with_it(release, tmp_path):
    files = [*hub_shaped.PAIR_FILES.values(), hub_shaped.PEOPLE_FILE]
    again, other = (hub_shaped.make(tmp_path / str(seed), PER_PERSON, seed) for seed in (0, 1))
    assert all((again / name).read_bytes() == (release / name).read_bytes() for name in files)
    assert (other / TRAIN).read_bytes() != (release / TRAIN).read_bytes()


def test_common_questions_are_divergent_on_the_persons_own_axis(release, imported):
    pairs = imported.pairs()
    common = sum(r["question_type"] == "common" for name in (TRAIN, TEST) for r in read_rows(release / name))
    divergent = [p for p in pairs if p.question_type == "divergent"]
    assert len(divergent) == common and {p.question_type for p in pairs} == {"personal", "divergent"}
    axes = {person.name: person.axes for person in imported.personas()}
    assert all(p.axis in axes[p.name] for p in divergent)
    assert "family/marriage status" in {p.axis for p in divergent}
    assert all(p.axis is None for p in pairs if p.question_type == "personal")


def test_people_come_from_the_table_without_a_written_persona(imported):
    rows = read_rows(imported.personas_path)
    assert rows == read_rows(hub_shaped.TABLE) and not any("description" in row for row in rows)
    assert all(person.description is None for person in imported.personas())


def test_a_persona_column_is_a_method_with_one_prefix_per_person(release, imported):
    column = {row["name"]: row["persona_gold_gpt4"] for row in read_rows(release / hub_shaped.PEOPLE_FILE)}
    prefixes = imported.prefixes(GOLD)
    assert [p.name for p in prefixes] == [p.name for p in imported.personas()]
    assert all(p.pair_id is None and p.shots == [] and p.seed == 0 and p.method == GOLD for p in prefixes)
    assert all(p.text == column[p.name] for p in prefixes)
    assert {p.model for p in prefixes} == {f"{release}/personas.json#persona_gold_gpt4"}
    assert {p.seed for p in imported.prefixes(f"{GOLD}_seed1")} == {1}
    report = read_json(imported.manifest_path)["prefix_columns"]
    assert report["persona_gold_gpt4"] == {"method": GOLD}
    assert "shots are not released" in report["persona_xy_4s_gpt4"]["skipped"]
    assert sorted(p.name for p in (imported.root / "prefixes").iterdir()) == [f"{GOLD}.jsonl", f"{GOLD}_seed1.jsonl"]


@pytest.mark.parametrize(
    ("column", "method"),
    [("persona_gold_gpt4", GOLD), ("persona_gold_gpt4_seed2", f"{GOLD}_seed2"),
     ("persona_gold_zephyr7b", "persona_gold_zephyr7b-released")],
)  # fmt: skip
def test_a_persona_column_names_its_released_method(column, method):
    parsed = parse_method(method)
    assert released_name(column) == method and parsed.released and parsed.persona and parsed.shots is None


@pytest.mark.parametrize(
    ("column", "why"),
    [("persona_xy_4s_gpt4", "shots are not released"), ("xyw_2s", "shots are not released"),
     ("shuffle_persona_gold_gpt4", "built from its base"), ("persona_gold", "names no model")],
)  # fmt: skip
def test_other_prefix_columns_are_not_released_methods(column, why):
    with pytest.raises(DataError, match=why):
        released_name(column)


def test_released_methods_build_and_bake_with_no_model(imported, tmp_path):
    data = DatasetDir(shutil.copytree(imported.root, tmp_path / "data"))
    before = data.prefix_path(GOLD).read_bytes()
    methods = [GOLD, f"shuffle_{GOLD}", "xyw_2s", f"xyw_2s+persona_task_2s_from_{GOLD}"]
    write_prefixes(data, methods, inference_models=tmp_path / "no_models")
    bake(data, methods)
    assert data.prefix_path(GOLD).read_bytes() == before
    texts = {p.name: p.text for p in data.prefixes(GOLD)}
    assert {p.name: p.text for p in data.prefixes(f"shuffle_{GOLD}")}.keys() == texts.keys()
    assert all(texts[p.name] != p.text for p in data.prefixes(f"shuffle_{GOLD}"))
    row = data.dpo(GOLD, "test")[0]
    assert texts[row.name] in row.prompt[-1].content
    with pytest.raises(DataError, match="holds the column persona_gold_gpt4_seed2 of the released people file"):
        write_prefixes(data, [f"{GOLD}_seed2"], inference_models=tmp_path / "no_models")


def test_the_papers_seven_settings_take_the_released_gold_persona(imported, tmp_path):
    done = command("planner.run", "cv", "--data", str(imported.root), "--out", str(tmp_path / "exp"), "--model",
                   "smollm2", "--folds", "0", "--dry_run")  # fmt: skip
    assert done.returncode == 0, done.stderr
    trained = [line.split()[1].split("/")[2] for line in done.stdout.splitlines() if line.split()[1].endswith("/dpo")]
    assert trained == ["no_prefix", "tag", "name", "xyw_2s", "persona_xy_4s_smollm2", "persona_xy_4s_gpt4", GOLD]


def test_a_column_missing_for_someone_is_skipped(release, tmp_path):
    source = copy_of(release, tmp_path)
    people = read_rows(source / hub_shaped.PEOPLE_FILE)
    people[3]["persona_gold_gpt4"] = None
    write_jsonl(source / hub_shaped.PEOPLE_FILE, people)
    data = import_dataset(HubImportConfig(source=str(source), out=str(tmp_path / "out")))
    skipped = read_json(data.manifest_path)["prefix_columns"]["persona_gold_gpt4"]["skipped"]
    assert skipped == f"no text for 1 of 50 people (first: {people[3]['name']})"
    assert not data.prefix_path(GOLD).exists() and data.prefix_path(f"{GOLD}_seed1").is_file()


def test_chosen_rejected_message_lists_read_as_yw_yl(release, tmp_path):
    source = copy_of(release, tmp_path)
    rows = read_rows(source / TRAIN)
    for row in rows:
        question = {"role": "user", "content": row["prompt"]}
        row["chosen"] = [question, {"role": "assistant", "content": row.pop("yw")}]
        row["rejected"] = [question, {"role": "assistant", "content": row.pop("yl")}]
    write_jsonl(source / TRAIN, rows)
    data = import_dataset(HubImportConfig(source=str(source), out=str(tmp_path / "out")))
    train = [p for p in data.pairs() if p.split == "train"]
    assert [(p.chosen, p.rejected) for p in train] == [
        (r["chosen"][1]["content"], r["rejected"][1]["content"]) for r in rows
    ]


@pytest.mark.parametrize(
    ("file", "change", "where"),
    [
        (TRAIN, {"yw": None}, f"{TRAIN}:3: field 'yw/chosen' missing"),
        (TRAIN, {"question_type": "shared"}, f"{TRAIN}:3: field 'question_type' unknown question type 'shared'"),
        (TEST, {"name": "Nobody Known"}, f"{TEST}:3: field 'name' 'Nobody Known' is not in"),
        (TEST, {"yl": 5}, f"{TEST}:3: field 'yl' expected a string"),
        (hub_shaped.PEOPLE_FILE, {"name": None}, "personas.json:3: field 'name' missing"),
        (hub_shaped.PEOPLE_FILE, {"persona_gold_gpt4": ["a"]}, "personas.json:3: field 'persona_gold_gpt4' expected"),
    ],
)
def test_a_bad_row_is_one_line_naming_file_line_and_field(release, tmp_path, capsys, file, change, where):
    source = copy_of(release, tmp_path)
    rows = read_rows(source / file)
    rows[2] = {key: value for key, value in {**rows[2], **change}.items() if value is not None}
    write_jsonl(source / file, rows)
    with pytest.raises(SystemExit) as stop:
        main(["--source", str(source), "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert stop.value.code == 2 and error.count("\n") == 1
    assert error.startswith(f"error: {source}/{where}"), error


def test_a_file_that_is_no_json_lines_is_one_line_naming_it(release, tmp_path, capsys):
    source = copy_of(release, tmp_path)
    lines = (source / TEST).read_text().splitlines(keepends=True)
    (source / TEST).write_text("".join(lines[:2]) + '{"name": "Serena\n' + "".join(lines[3:]))
    with pytest.raises(SystemExit) as stop:
        main(["--source", str(source), "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert stop.value.code == 2 and error.count("\n") == 1
    assert error.startswith(f"error: {source / TEST}: cannot be read as a table of rows (JSON parse error"), error


def test_offline_hub_id_fails_at_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(SystemExit) as stop:
        main(["--out", str(tmp_path / "o")])
    assert time.monotonic() - start < 5 and stop.value.code == 2
    assert "hf download zilu-peter-tang/famous-persona" in capsys.readouterr().err
