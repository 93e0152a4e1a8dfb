"""The pipeline against a real served model: `transformers serve` with SmolLM2-135M-Instruct on 127.0.0.1 (the
session fixture `real_server`), beside the scripted server that pins exact behaviour. A 135M model makes few usable
rows, so these tests check what must hold whatever it writes: the run ends with exit 0 or with exit 3 and a precise
account (never a traceback, never 'finished' with holes), every reply is counted as usable or by why not, sampling
really samples, and persona inference and the persona judge go through the `openai` backend. The run at test size
sends under twenty short requests, one judging attempt a pair."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json

import pytest
import yaml

from evaluation.judge_persona import judge_persona
from famous_persona import persona_prompts
from famous_persona.io import DatasetDir, read_json
from famous_persona.llm.backend import Tally, make_request
from famous_persona.llm.cache import RequestCache, run_cached
from famous_persona.llm.config import BackendConfig, open_backend
from sampling.generation import generate
from sampling.prefixes.inference import PersonaInference
from tests.support.real_server import smollm2_args

pytestmark = pytest.mark.slow
TEST_SIZE = {
    "people": ["Serena Williams", "Tiger Woods"],
    "personal_target": 1,
    "divergent_target": 1,
    "overgenerate": 1.0,
    "candidates": 2,
    "keep": 2,
    "sampler_max_tokens": 64,
    "judge_max_tokens": 16,
    "judge_attempts": 1,
}
"""A judge reply is read whatever its length (a verdict, or unparseable and counted so); 16 tokens rather than the
config's 48 keep the run's eight judge requests from being most of its time on one server thread."""


@pytest.fixture(scope="module")
def small_run(real_server, tmp_path_factory):
    """The small-model config at test size against the real server: its exit status, stderr and output folder."""
    out = tmp_path_factory.mktemp("served") / "data"
    args = smollm2_args(out, real_server.base_url, **TEST_SIZE)
    stderr = io.StringIO()  # capsys is per test; this fixture is per module
    with contextlib.redirect_stderr(stderr):
        try:
            generate.main(args)
            code = 0
        except SystemExit as stop:
            code = stop.code
    return code, stderr.getvalue(), out


def test_a_weak_model_run_ends_with_an_account_not_a_traceback(small_run):
    code, err, out = small_run
    manifest = read_json(out / "manifest.json")
    found = manifest["account"]
    assert code in (0, 3), err
    if code == 3:
        assert manifest["status"] == "partial"
        assert f"pairs: {found['pairs']} of the target {found['target']}" in err
        assert all(f"{stage}: " in err for stage in found["replies"]), err
    else:
        assert manifest["status"] == "finished" and found["pairs"] == found["target"]


def test_every_reply_is_usable_or_has_a_reason(small_run):
    _, _, out = small_run
    reports = {p.name.split(".")[0]: read_json(p) for p in (out / "work").glob("*.report.json")}
    asked = {stage: r["replies"] for stage, r in reports.items() if r.get("replies", {}).get("asked")}
    assert {"personal_questions", "divergent_questions", "candidates", "judged"} <= set(asked), asked
    for stage, replies in asked.items():
        assert replies["usable"] + sum(replies["not_usable"].values()) == replies["asked"], (stage, replies)
    # Measured, not assumed: under the small style SmolLM2 writes questions and answers the parsers accept.
    assert asked["personal_questions"]["usable"] + asked["divergent_questions"]["usable"] > 0, asked
    assert asked["candidates"]["usable"] > 0 and reports["candidates"]["rows"] > 0, asked


def test_divergent_candidates_are_written_for_the_axis_categories(small_run):
    _, _, out = small_run
    rows = [json.loads(line) for line in (out / "work" / "candidates.jsonl").read_text().splitlines()]
    divergent = [row for row in rows if row["axis"] is not None]
    for row in divergent:
        assert {c["category"] for c in row["candidates"]} <= {"tennis", "golf"}, row
        assert all(isinstance(c["seed"], int) for c in row["candidates"])


def test_the_server_samples_when_asked_to(small_run):
    """The candidates of a personal question share one prompt and differ only by seed: with the server flavour set,
    they must not all come back identical (they did before: the server decoded greedily)."""
    _, _, out = small_run
    samples = read_json(out / "work" / "candidates.report.json")["samples"]
    assert samples["groups"] > 0 and samples["identical"] < samples["groups"], samples


def _three_draws(real_server, server: str, tmp_path) -> set[str]:
    config = BackendConfig(
        model=real_server.model, base_url=real_server.base_url, server=server, temperature=0.9, max_tokens=12
    )
    messages = [("user", "Name a sport and say why in one sentence.")]
    requests = [make_request(f"s{i}", config.model, messages, config.params(0, i), i) for i in range(3)]
    cache = RequestCache(tmp_path / f"{server}.sqlite")
    results = asyncio.run(run_cached(requests, open_backend(config, Tally()), cache, Tally(), accept=lambda c: True))
    return {c.text for c in results.completions.values()}


def test_sampling_settings_take_effect_only_with_the_server_flavour(real_server, tmp_path):
    assert len(_three_draws(real_server, "openai", tmp_path)) == 1, "transformers serve ignored temperature and seed"
    assert len(_three_draws(real_server, "transformers-serve", tmp_path)) > 1


def test_a_streamed_reply_matches_the_whole_reply(real_server, tmp_path):
    """`transformers serve` streams: the same greedy request gives the same text streamed, with a finish reason."""
    texts = {}
    for stream in (False, True):
        config = BackendConfig(
            model=real_server.model, base_url=real_server.base_url, temperature=0, max_tokens=12, stream=stream
        )
        request = make_request("s", config.model, [("user", "Name a sport.")], config.params(0, 0), 0)
        cache = RequestCache(tmp_path / f"stream-{stream}.sqlite")
        results = asyncio.run(
            run_cached([request], open_backend(config, Tally()), cache, Tally(), accept=lambda c: True)
        )
        texts[stream] = results.completions["s"]
    assert texts[True].text == texts[False].text and texts[True].text.strip()
    assert texts[True].finish_reason in ("stop", "length")


def test_persona_inference_through_the_openai_backend(real_server, tmp_path):
    spec = {"model": real_server.model, "backend": "openai", "base_url": real_server.base_url}
    spec |= {"server": "transformers-serve", "max_tokens": 48, "concurrency": 1, "timeout_s": 120}
    (tmp_path / "served.yaml").write_text(yaml.safe_dump(spec))
    inference = PersonaInference(tmp_path, tmp_path / "cache.sqlite")
    requests = [(name, persona_prompts.from_name(name)) for name in ("Serena Williams", "Tiger Woods")]
    texts, cut = inference.infer("served", requests, seed=0)
    assert set(texts) == {"Serena Williams", "Tiger Woods"} and all(t.strip() for t in texts.values())
    assert 0 <= cut <= 2 and inference.tally.sent >= 2


def test_the_persona_judge_runs_against_it(real_server, world, tmp_path):
    dataset = DatasetDir(world.root)
    pairs = [p for p in dataset.pairs() if p.split == "test"][:2]
    rows = [
        {"id": p.id, "name": p.name, "question_type": p.question_type, "seen": False, "fold": 0, "response": p.rejected}
        for p in pairs
    ]
    backend = BackendConfig(
        model=real_server.model, base_url=real_server.base_url, temperature=0, max_tokens=24, concurrency=1
    )
    verdicts, tally = judge_persona(rows, dataset, backend, tmp_path / "judge.sqlite", against="chosen")
    assert [v["id"] for v in verdicts] == [r["id"] for r in rows]
    assert all(v["outcome"] in ("win", "loss", "tie", "unparseable") and len(v["judge_text"]) == 2 for v in verdicts)
    assert tally["sent"] + tally["cached"] == 4
