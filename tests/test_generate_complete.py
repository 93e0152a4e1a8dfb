"""A generation run that lost data never reports success: lost requests are counted per stage and per subject, never
cached as final, and the same command retries exactly them; stage outputs carry the config that shaped them; config
values are validated at load."""

from __future__ import annotations

import sqlite3
from collections import Counter

import pytest

from famous_persona.io import DatasetDir, read_json
from sampling.generation import generate
from sampling.generation.config import GenerateConfig, shaping, warn_flat
from tests.support.generation import SECRET, small_args
from tests.support.scripted_server import FaultPlan, ScriptedServer
from tests.support.tiny_reward import build_tiny_reward_model

LOSSY = FaultPlan(empty=6, truncated=4, server_500=6)


@pytest.fixture(scope="module")
def reward_model(tmp_path_factory):
    return build_tiny_reward_model(tmp_path_factory.mktemp("reward"))


@pytest.fixture(scope="module")
def clean(tmp_path_factory, reward_model):
    """The fault-free dataset, the reference a completed lossy run must equal. Nothing here depends on timing: a
    busy machine may answer slower than the fault tests' half second, and a retry of a fault-free request gets the
    same reply."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENAI_API_KEY", SECRET)
        server = ScriptedServer(plan=FaultPlan(), api_key=SECRET).start()
        out = tmp_path_factory.mktemp("clean") / "data"
        generate.main(small_args(out, server.base_url, reward_model, timeout_s=60))
        server.shutdown()
    return out


def _pairs(out) -> list[dict]:
    return [p.model_dump(exclude={"meta"}) for p in DatasetDir(out).pairs()]


def _shape(out) -> list[tuple]:
    """Pairs per person, type and split: what a completed run must match, since an unusable reply asked again
    with a new seed has other text than the fault-free run's."""
    return sorted(Counter((p.name, p.question_type, p.split) for p in DatasetDir(out).pairs()).items())


def _lossy_run_until_finished(out, reward_model, capsys) -> tuple[ScriptedServer, int]:
    """A LOSSY run, then the same command until it finishes (at most 8 more: each new seed, and each knockout round
    a rerun reaches, meets the faults again); the server and the requests lost."""
    server = ScriptedServer(plan=LOSSY, api_key=SECRET).start()
    args = small_args(out, server.base_url, reward_model, max_retries=0, reasks=0)
    with pytest.raises(SystemExit) as exit_info:
        generate.main(args)
    assert exit_info.value.code == 3, "a run that lost requests must not end with status 0"
    err = capsys.readouterr().err
    assert "lost" in err and "candidates" in err and "Tiger Woods" in err
    assert "candidates: " in err and "usable (" in err, "the account must say per stage what was usable"
    manifest = read_json(out / "manifest.json")
    assert manifest["status"] == "partial"
    total_lost = sum(step["lost"] for step in manifest["generation"].values())
    assert total_lost > 0
    for _ in range(8):
        try:
            generate.main(args)
            break
        except SystemExit:
            total_lost += sum(s["lost"] for s in read_json(out / "manifest.json")["generation"].values())
    server.shutdown()
    return server, total_lost


@pytest.mark.slow
def test_lost_requests_fail_the_run_and_the_same_command_retries_them(
    tmp_path, reward_model, clean, monkeypatch, capsys
):
    """Lost requests fail the run (exit 3, named per stage and person); the same command asks them again, a reply that
    was unusable with a new seed, until the run finishes with as many pairs as the fault-free run, no request that got
    a reply sent again with the same seed; and the whole sequence, run again from nothing, makes the same dataset."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server, _ = _lossy_run_until_finished(tmp_path / "data", reward_model, capsys)
    assert server.ledger.summary()["served_twice"] == 0, "a request that got a reply was sent again unchanged"
    assert read_json(tmp_path / "data" / "manifest.json")["status"] == "finished"
    assert _shape(tmp_path / "data") == _shape(clean)
    assert _pairs(tmp_path / "data") != _pairs(clean), "no reply was asked again with a new seed: nothing tested"
    _lossy_run_until_finished(tmp_path / "again", reward_model, capsys)
    assert _pairs(tmp_path / "again") == _pairs(tmp_path / "data"), "the recorded seeds must make a rerun identical"


@pytest.mark.slow
def test_a_deterministic_server_is_recovered_from_by_new_seeds(tmp_path, reward_model, monkeypatch, capsys):
    """A server that answers some bodies with an empty reply every time (as a greedy server does): with no re-asks in
    the run it ends with exit 3, and the same command, asking each lost request with its next seed, finishes; the
    cache records each unusable reply's attempt, seed and reason."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server = ScriptedServer(plan=FaultPlan(stubborn=5), api_key=SECRET).start()
    out = tmp_path / "data"
    args = small_args(out, server.base_url, reward_model, max_retries=0, reasks=0)
    with pytest.raises(SystemExit) as exit_info:
        generate.main(args)
    assert exit_info.value.code == 3
    assert "not usable: empty" in capsys.readouterr().err
    for _ in range(6):
        try:
            generate.main(args)
            break
        except SystemExit:
            continue
    server.shutdown()
    assert read_json(out / "manifest.json")["status"] == "finished"
    assert server.ledger.faults["stubborn"] > 0 and server.ledger.summary()["served_twice"] == 0
    with sqlite3.connect(out / "work" / "cache.sqlite") as db:
        rejected = db.execute("SELECT key, MAX(attempt), COUNT(*), MIN(reason) FROM rejected GROUP BY key").fetchall()
        finals = dict(db.execute("SELECT key, attempt FROM completions").fetchall())
    assert rejected and all(reason == "empty" and n == last + 1 for _, last, n, reason in rejected)
    answered = [(finals[key], last) for key, last, _, _ in rejected if key in finals]  # a knockout may not need all
    assert answered and all(final == last + 1 for final, last in answered), "a final reply is the next attempt's"


EMPTY_AND_EXHAUSTED = FaultPlan(empty=8, server_500=6, server_503=6)


@pytest.mark.slow
def test_faults_either_change_nothing_or_fail_naming_the_losses_and_a_rerun_completes(
    tmp_path, reward_model, clean, monkeypatch, capsys
):
    """Empty replies and requests whose retry budget (none) is used up: the dataset is the fault-free one, or the run
    exits 3 naming each stage's losses per person; then the same command, the faults gone, asks lost requests again
    (those still needed: a knockout decided otherwise needs others; an empty reply with a new seed) and nothing that
    already had a final reply, and ends with as many pairs per person, type and split as the fault-free run."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server = ScriptedServer(plan=EMPTY_AND_EXHAUSTED, api_key=SECRET).start()
    args = small_args(tmp_path / "data", server.base_url, reward_model, max_retries=0, reasks=0)
    try:
        generate.main(args)
        code = 0
    except SystemExit as stop:
        code = stop.code
    first = dict(server.ledger.attempts)
    faulted = {d for d, n in first.items() if n == 1 and EMPTY_AND_EXHAUSTED.pick(int(d[:16], 16), 1, "")}
    assert faulted, "the plan injected no fault: the test proves nothing"
    if code == 0:
        assert _pairs(tmp_path / "data") == _pairs(clean)
    else:
        assert code == 3
        err = capsys.readouterr().err
        steps = read_json(tmp_path / "data" / "manifest.json")["generation"]
        for stage, step in steps.items():
            if step["lost"]:
                assert f"{stage}: {step['lost']} requests lost (" in err, (stage, err)
                assert all(f"{who}: {n}" in err for who, n in step["lost_by_subject"].items()), (stage, err)
    server.plan = FaultPlan()
    generate.main(args)
    resent = {d for d, n in server.ledger.attempts.items() if n > first.get(d, 0) and d in first}
    server.shutdown()
    assert resent and resent <= faulted, "the re-run asked again a request that already had a final reply"
    assert read_json(tmp_path / "data" / "manifest.json")["status"] == "finished"
    assert _shape(tmp_path / "data") == _shape(clean)


@pytest.mark.slow
def test_allow_partial_exits_zero_and_says_so(tmp_path, reward_model, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server = ScriptedServer(plan=LOSSY, api_key=SECRET).start()
    out = tmp_path / "data"
    generate.main(small_args(out, server.base_url, reward_model, max_retries=0, allow_partial=True))
    server.shutdown()
    assert "lost" in capsys.readouterr().err
    assert read_json(out / "manifest.json")["status"] == "partial"


@pytest.mark.slow
def test_a_changed_config_is_refused_naming_the_keys(tmp_path, reward_model, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server = ScriptedServer(plan=FaultPlan(), api_key=SECRET).start()
    out = tmp_path / "data"
    generate.main(small_args(out, server.base_url, reward_model))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        generate.main(small_args(out, server.base_url, reward_model, personal_target=6))
    server.shutdown()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "personal_target" in err and "--force" in err


@pytest.mark.slow
def test_split_reports_everyone_below_target(tmp_path, reward_model, monkeypatch, capsys):
    """A run that lost nothing but made fewer pairs than the target is not 'finished': exit 3, everyone short named."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server = ScriptedServer(plan=FaultPlan(), api_key=SECRET).start()
    out = tmp_path / "data"
    with pytest.raises(SystemExit) as exit_info:
        generate.main(small_args(out, server.base_url, reward_model, personal_target=8, overgenerate=0.25))
    server.shutdown()
    assert exit_info.value.code == 3
    short = read_json(out / "work" / "split.report.json")["short"]
    assert set(short) == {"Serena Williams", "Tiger Woods", "Barack Obama"}
    assert "personal_train" in short["Tiger Woods"]
    err = capsys.readouterr().err
    assert all(f"split: {name} is below the target" in err for name in short) and "pairs: " in err
    assert read_json(out / "manifest.json")["status"] == "partial"


@pytest.mark.parametrize(
    "key, value",
    [
        ("concurrency", 0),
        ("concurrency", -1),
        ("questions_per_request", 0),
        ("personal_target", -1),
        ("divergent_target", -4),
        ("candidates", 0),
        ("max_retries", -1),
        ("timeout_s", 0),
        ("overgenerate", 0),
        ("near_duplicate", 1.5),
        ("judge_attempts", 0),
        ("diverse", 1),
        ("keep", 2),
        ("reward_batch_size", 0),
        ("stages", ["judge", "nope"]),
        ("requests_per_minute", -5),
        ("backoff_base_s", -1),
    ],
)
def test_config_values_are_validated_at_load(key, value):
    with pytest.raises(ValueError, match=key):
        GenerateConfig(**{key: value})


@pytest.mark.parametrize(
    "key, value, said",
    [
        ("sampler_top_p", 0, "sampler: top_p"),
        ("writer_max_tokens", 0, "writer: max_tokens"),
        ("sampler_backend", "grpc", "sampler: backend"),
        ("judge", {"max_tokens": 0}, "judge: max_tokens"),
        ("judge", {"colour": "red"}, r"judge: unknown key\(s\) \['colour'\]"),
        ("writer", "{not json", "writer: expected a JSON object"),
        ("sampler", ["model"], "sampler: expected a mapping"),
    ],
)
def test_role_values_are_validated_at_load_naming_the_role(key, value, said):
    with pytest.raises(ValueError, match=said):
        GenerateConfig(**{key: value})


def test_a_role_block_sets_any_backend_key_and_flat_keys_still_read(tmp_path, capsys):
    """A YAML role block reaches keys the flat spelling never had (batch_size, dtype, system_prompt, per-role
    concurrency); flat keys still apply (the command line's short form), and a file that uses them says so."""
    block = {"model": "m", "backend": "transformers", "batch_size": 3, "dtype": "float32", "system_prompt": ""}
    config = GenerateConfig(judge={**block, "concurrency": 2}, judge_max_tokens=7, concurrency=5)
    judge = config.roles["judge"]
    assert (judge.batch_size, judge.dtype, judge.system_prompt, judge.max_tokens) == (3, "float32", "", 7)
    assert judge.concurrency == 2 and config.roles["writer"].concurrency == 5
    assert shaping(config)["roles"]["judge"]["batch_size"] == 3 and "judge_max_tokens" not in shaping(config)
    assert shaping(config) == shaping(GenerateConfig(judge={**block, "max_tokens": 7}, concurrency=5))
    flat = tmp_path / "flat.yaml"
    flat.write_text("judge_model: gpt-4o\nconcurrency: 2\n")
    warn_flat(["--config", str(flat)])
    assert "deprecated: " in capsys.readouterr().err and "judge_model" in flat.read_text()
    nested = tmp_path / "nested.yaml"
    nested.write_text("judge:\n  model: gpt-4o\n")
    warn_flat(["--config", str(nested)])
    assert capsys.readouterr().err == ""
