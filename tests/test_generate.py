"""The generation pipeline end to end against a scripted OpenAI-compatible server on 127.0.0.1, with injected faults;
its dataset is then prefixed, baked, trained on and scored by the project's own stages."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import yaml
from trl import DPOConfig, ModelConfig

from evaluation.score import ScoreArguments, score
from famous_persona.errors import DataError
from famous_persona.io import DatasetDir, read_json
from famous_persona.models import TinyShape, build_tiny_model, dataset_texts
from sampling.generation import generate
from sampling.prefixes.bake import bake
from sampling.prefixes.build import write_prefixes
from tests.support.generation import PEOPLE, SECRET, files_containing, small_args
from tests.support.scripted_server import FAULT_MIX, ScriptedServer
from tests.support.tiny_reward import build_tiny_reward_model
from training import dpo
from training.run_data import RunArguments

pytestmark = pytest.mark.slow  # the tests read one generation run, made by the module's fixture
FAULTS = dataclasses.replace(FAULT_MIX, stubborn=0, poison=1.5)


@pytest.fixture(scope="module")
def reward_model(tmp_path_factory):
    return build_tiny_reward_model(tmp_path_factory.mktemp("reward"))


@pytest.fixture(scope="module")
def run(tmp_path_factory, reward_model, monkeypatch_module):
    monkeypatch_module.setenv("OPENAI_API_KEY", SECRET)
    server = ScriptedServer(plan=FAULTS, api_key=SECRET).start()
    out = tmp_path_factory.mktemp("gen") / "famous_small"
    generate.main(small_args(out, server.base_url, reward_model, allow_partial=True))
    first = server.ledger.summary()
    first["lost"] = sum(step["lost"] for step in read_json(out / "manifest.json")["generation"].values())
    generate.main(small_args(out, server.base_url, reward_model, force=True, allow_partial=True))
    yield out, server, first
    server.shutdown()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_dataset_is_valid_and_complete(run):
    out, _, _ = run
    dataset = DatasetDir(out)
    assert [p.name for p in dataset.personas()] == PEOPLE
    pairs = dataset.pairs()
    for name in PEOPLE:
        own = [p for p in pairs if p.name == name]
        for kind in ("personal", "divergent"):
            splits = sorted(p.split for p in own if p.question_type == kind)
            assert splits.count("train") >= 1 and splits.count("test") >= 1, (name, kind, splits)
    manifest = read_json(out / "manifest.json")
    assert manifest["status"] == "partial", "poisoned requests are lost: the run must not claim it finished"
    assert sum(step["lost"] for step in manifest["generation"].values()) > 0


def test_divergent_question_has_one_split_for_everyone(run):
    pairs = DatasetDir(run[0]).pairs()
    splits: dict[str, set[str]] = {}
    for pair in pairs:
        if pair.question_type == "divergent":
            splits.setdefault(pair.meta["qid"], set()).add(pair.split)
    assert splits and all(len(s) == 1 for s in splits.values())
    shared = [q for q in splits if sum(p.meta["qid"] == q for p in pairs) > 1]
    assert shared, "Obama shares no divergent question with anyone"


def test_faults_are_survived_and_nothing_is_sent_twice(run):
    out, server, first = run
    summary = server.ledger.summary()
    print("\nfault injection:", json.dumps(first))
    assert first["served_twice"] == 0
    assert summary["served_twice"] == 0, "a request that got a reply was sent again with the same seed"
    assert summary["requests"] > first["requests"], "the --force re-run did not ask the lost requests again"
    for kind in ("rate_limit", "server_500", "server_503", "timeout", "malformed", "empty", "truncated", "neither"):
        assert first["faults"].get(kind, 0) > 0, kind
    assert first["faults"]["poison"] > 0


def test_requests_that_exhaust_their_budget_are_counted(run):
    out, _, first = run
    attempts = 3 + 1
    reports = {p.name.split(".")[0]: read_json(p) for p in sorted((out / "work").glob("*.report.json"))}
    for stage, report in reports.items():
        print(
            f"\n{stage}: rows={report['rows']} left_out={len(report['left_out'])} failed={report['tally']['failed']} "
            f"unusable={report['tally']['unusable']} retries={report['tally']['retries']}"
        )
    failed = sum(report["tally"]["failed"] for report in reports.values())
    assert 0 < failed * attempts <= server_poison(run)


def server_poison(run) -> int:
    return run[1].ledger.summary()["faults"]["poison"]


def test_retry_after_is_honoured(run):
    ledger = run[1].ledger
    limited = [times for times in ledger.times.values() if len(times) > 1]
    assert limited
    gaps = [b - a for times in limited for a, b in zip(times, times[1:], strict=False)]
    assert max(gaps) >= FAULTS.retry_after_s


def test_exhausted_and_unresolved_items_are_reported(run):
    work = run[0] / "work"
    reports = {p.name: read_json(p) for p in work.glob("*.report.json")}
    judged = reports["judged.report.json"]
    assert judged["unparseable"] > 0 and judged["tie"] > 0
    candidate_replies = read_json(work / "candidates.report.json")["replies"]
    reasons = set(candidate_replies["not_usable"])
    assert reasons <= {"no reply (retries spent)"}, "the re-run must ask every unusable candidate reply again"
    pairs = DatasetDir(run[0]).pairs()
    assert any(p.meta["unparseable"] or p.meta["ties"] for p in pairs)
    assert all(p.meta["judge"] and all("text" in t for t in p.meta["judge"]) for p in pairs)


def test_api_key_is_in_no_output(run):
    assert files_containing(run[0], SECRET) == []
    assert files_containing(run[0].parent, SECRET) == []


def test_wrong_key_stops_at_once_with_a_message(tmp_path, reward_model, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    server = ScriptedServer(api_key=SECRET).start()
    with pytest.raises(SystemExit) as stop:
        generate.main(small_args(tmp_path / "x", server.base_url, reward_model))
    server.shutdown()
    assert stop.value.code == 2
    assert server.ledger.faults["unauthorised"] <= 8, "authentication errors must not be retried"
    assert files_containing(tmp_path, "sk-wrong") == []


def test_stages_downstream_consume_the_dataset(run, tmp_path):
    dataset = DatasetDir(run[0])
    methods = ["no_prefix", "name", "xyw_2s"]
    write_prefixes(dataset, methods)
    bake(dataset, methods)
    shape = TinyShape(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    base = build_tiny_model(dataset_texts(dataset.root), tmp_path / "base", shape=shape)
    run_dir = tmp_path / "dump" / "tiny" / "xyw_2s" / "fold0"
    config = DPOConfig(
        output_dir=str(run_dir),
        num_train_epochs=1,
        per_device_train_batch_size=8,
        report_to="none",
        use_cpu=True,
        bf16=False,
        disable_tqdm=True,
        max_length=512,
        learning_rate=1e-3,
    )
    fold = dataset.personas()[0].fold
    dpo.train(
        RunArguments(data=str(dataset.root), method="xyw_2s", fold=fold),
        config,
        ModelConfig(model_name_or_path=str(base)),
    )
    score(
        ScoreArguments(
            model=str(run_dir / "model"),
            data=str(dataset.root),
            test_method="xyw_2s",
            fold=fold,
            out=str(run_dir / "eval"),
            experiment="gen",
            model_short="tiny",
            train_method="xyw_2s",
        )
    )
    summary = read_json(run_dir / "eval" / "summary.json")
    assert summary["n_pairs"] == sum(p.split == "test" for p in dataset.pairs())


GENERATED_METHODS = [
    "no_prefix",
    "tag",
    "name",
    "xyw_2s",
    "xywyl_2s",
    "xyw_2s_seed1",
    "shuffle_xyw_2s",
    "xyw_2s_bm25",
    "xywyl_2s_emb_reverse",
    "persona_gold_api",
    "persona_gold_api_seed1",
    "shuffle_persona_gold_api",
    "persona_xy_2s_api",
    "persona_x_2s_api",
    "persona_xy_2s_api_bm25",
    "persona_x_2s_api_emb_reverse",
]


def test_every_prefix_family_bakes_on_the_generated_dataset(run, tmp_path):
    """Every §3.2 family on a dataset of the pipeline: personas come from an inference model (the scripted server),
    since the templated inference and written gold descriptions exist only in the synthetic world."""
    out, server, _ = run
    dataset = DatasetDir(shutil.copytree(out, tmp_path / "copy"))
    models = tmp_path / "inference"
    models.mkdir()
    spec = {"model": "scripted-persona", "base_url": server.base_url, "max_retries": 3, "timeout_s": 0.5}
    (models / "api.yaml").write_text(yaml.safe_dump(spec))
    write_prefixes(dataset, GENERATED_METHODS, models)
    bake(dataset, GENERATED_METHODS)
    pairs = dataset.pairs()
    test_ids = {p.id for p in pairs if p.split == "test"}
    for method in GENERATED_METHODS:
        prefixes = dataset.prefixes(method)
        assert all(not test_ids.intersection(p.shots) for p in prefixes), method
        rows = dataset.dpo(method, "train") + dataset.dpo(method, "test")
        assert len(rows) == len(pairs), method
    for method in ("persona_xy_2s", "persona_gold"):
        with pytest.raises(DataError):
            write_prefixes(dataset, [method], models)
    assert files_containing(tmp_path, SECRET) == []
