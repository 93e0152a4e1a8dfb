"""The extension points of docs/design.md §15: a toy prefix family, trainer, judge and scorer, each added by its one
`register` call, reach the console command, the files the stage writes and the report. (The LLM backend and the
figure have their own such tests in test_llm_backend.py, test_report.py and test_claims.py.)"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from analysis.aggregate import read_results
from evaluation import judge_responses, score
from famous_persona import cli, families, trainers
from famous_persona.io import DatasetDir, read_json, read_rows, write_json, write_jsonl

EXPERIMENT = "toys"


def _console(*args: object) -> None:
    """`famous-persona <command> ...`, in this process."""
    cli.main([str(arg) for arg in args])


def _score(experiment: Path, data: Path, model: Path | str, test: str, *options: str, run: Path | None = None) -> Path:
    """`famous-persona score` of a model on one test prefix, prompt-only unless `run` (the trained run's folder, whose
    identity options come in `options`) is given; returns the output folder."""
    out = (run or experiment / "tiny" / "none" / "fold-1") / "eval" / test
    common = ["--model", model, "--data", data, "--test_method", test, "--out", out, "--experiment", EXPERIMENT]
    _console("score", *common, "--model_short", "tiny", "--pairs_per_person", "2", *options)
    return out


def _main_table(experiment: Path) -> list[dict[str, str]]:
    """`famous-persona report` of the experiment; the rows of its main table, cell texts by column."""
    _console("report", "--experiment_dir", experiment, "--n_boot", "20")
    page = (experiment / "report" / "index.html").read_text()
    table = page.split("<h2>Main table", 1)[1].split("</table>", 1)[0]
    header = re.findall(r"<th>(.*?)</th>", table)
    return [dict(zip(header, re.findall(r"<td>(.*?)</td>", row), strict=True)) for row in table.split("<tr>")[1:]]


@pytest.fixture
def shout():
    """A family added through `register` and taken out again: one line naming the person, no shots."""
    entry = families.register(families.Family("shout", "named", text=lambda seed, d: f"LOUDLY, for {d.person.name}."))
    yield entry
    families.FAMILIES.pop(entry.name)


def test_a_registered_family_is_built_baked_scored_and_reported(shout, world, tiny_model, tmp_path):
    data = Path(shutil.copytree(world.root, tmp_path / "data"))
    _console("prefixes", "--data", data, "--methods", "shout")
    _console("bake", "--data", data, "--methods", "shout")
    prefixes = list(read_rows(data / "prefixes" / "shout.jsonl"))
    assert {row["text"] for row in prefixes} == {f"LOUDLY, for {person.name}." for person in world.personas()}
    test_rows = DatasetDir(data).dpo("shout", "test")
    assert test_rows and all("LOUDLY, for" in row.prompt[0].content for row in test_rows)
    out = _score(tmp_path / EXPERIMENT, data, tiny_model, "shout")
    assert read_json(out / "summary.json")["test_method"] == "shout"
    rows = _main_table(tmp_path / EXPERIMENT)
    assert [(row["train_method"], row["test_method"]) for row in rows] == [("none", "shout")]


@pytest.fixture
def toy_trainer():
    """A trainer added through `register` (its stage leaves the model untrained) and taken out again."""
    entry = trainers.register(trainers.TrainerEntry("toy", "tests.support.toy_trainer", "dpo.yaml", "pairs", "none"))
    yield entry
    trainers.TRAINERS.pop(entry.name)


def test_a_registered_trainer_is_a_command_whose_runs_the_report_names(toy_trainer, world, tiny_model, tmp_path):
    run = tmp_path / EXPERIMENT / "tiny" / "toy" / "no_prefix" / "fold0"
    options = ["--data", world.root, "--method", "no_prefix", "--fold", "0", "--output_dir", run]
    _console("toy", *options, "--model_name_or_path", tiny_model, "--use_cpu", "true", "--report_to", "none")
    assert read_json(run / "manifest.json")["stage"] == "tests.support.toy_trainer"
    identity = ["--train_method", "no_prefix", "--fold", "0"]
    out = _score(tmp_path / EXPERIMENT, world.root, run / "model", "no_prefix", *identity, run=run)
    assert read_json(out / "summary.json")["trainer"] == "toy"
    rows = _main_table(tmp_path / EXPERIMENT)
    assert {(row["trainer"], row["seen"]) for row in rows} == {("toy", "seen"), ("toy", "unseen")}


def _words_over_three(rows: list[dict], dataset: DatasetDir, test_method: str) -> list[dict]:
    """A toy judge: a response of more than three words is aligned."""
    keys = ("id", "name", "question_type", "seen", "fold")
    return [
        {**{key: row[key] for key in keys}, "metrics": {"gen_words_over_three": len(row["response"].split()) > 3}}
        for row in rows
    ]


@pytest.fixture
def wordy():
    """A judge added through `register_judge` and taken out again."""
    yield judge_responses.register_judge("wordy", _words_over_three)
    judge_responses.JUDGES.pop("wordy")


def _generations(out: Path, data: Path, records: list) -> None:
    """generations.jsonl and manifest.json as evaluation.generate writes them for a prompt-only run: every other
    response long."""
    rows = [
        {"id": r.id, "name": r.name, "question_type": r.question_type, "seen": False, "fold": -1}
        | {"response": "a reply of many words" if index % 2 else "short"}
        for index, r in enumerate(records)
    ]
    write_jsonl(out / "generations.jsonl", rows)
    config = dict(data=str(data), experiment=EXPERIMENT, model_short="tiny", train_method="none")
    config.update(test_method="no_prefix", fold=-1, fold_scheme="fold")
    write_json(out / "manifest.json", {"stage": "evaluation.generate", "config": config, "status": "finished"})


def test_a_registered_judge_is_run_counted_and_reported(wordy, world, tiny_model, tmp_path):
    """Its verdicts become a behavioural metric of results.csv and of the report's behaviour section."""
    out = _score(tmp_path / EXPERIMENT, world.root, tiny_model, "no_prefix").parents[1] / "generate" / "no_prefix"
    _generations(out, world.root, world.dpo("no_prefix", "test"))
    _console("judge-responses", "--out", out, "--judge", "wordy")
    summary = read_json(out / "judge_wordy_summary.json")
    assert summary["judge"] == "wordy" and summary["metrics"] == ["gen_words_over_three"]
    assert len(list(read_rows(out / "judge_wordy.jsonl"))) == summary["n"]
    _main_table(tmp_path / EXPERIMENT)
    counted = read_results(tmp_path / EXPERIMENT).query("metric == 'gen_words_over_three'")
    assert (counted["n"].sum(), counted["n_correct"].sum()) == (summary["n"], summary["n"] // 2)
    page = (tmp_path / EXPERIMENT / "report" / "index.html").read_text()
    assert "Behaviour vs reward accuracy" in page and "<td>gen_words_over_three</td>" in page


def _chosen_first(model, encoded: list, pad_id: int, batch_size: int) -> list[tuple[float, int, float, int]]:
    """A toy scorer that puts every chosen answer ahead: log-prob 0 against -1, one token each."""
    return [(0.0, 1, -1.0, 1) for _ in encoded]


@pytest.fixture
def chosen_first():
    """A scorer added through `register_scorer` and taken out again."""
    yield score.register_scorer("chosen_first", _chosen_first)
    score.SCORERS.pop("chosen_first")


def test_a_registered_scorer_is_chosen_recorded_and_its_accuracy_reported(chosen_first, world, tiny_model, tmp_path):
    """The report has no scorer column (one experiment is scored one way), so what reaches it is the accuracy the
    scorer decided: every pair ranked right."""
    out = _score(tmp_path / EXPERIMENT, world.root, tiny_model, "no_prefix", "--scorer", "chosen_first")
    summary = read_json(out / "summary.json")
    assert summary["scorer"] == "chosen_first" and summary["accuracy"]["ref_free_avg"]["all/total"]["accuracy"] == 1
    (row,) = _main_table(tmp_path / EXPERIMENT)
    assert row["Total"].startswith("1.000")
