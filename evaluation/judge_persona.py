"""The persona judge on generated responses: the generation pipeline's reasoned judge request
(famous_persona.judge_prompts, in the words of famous_persona/wording.yaml or of a `--wording` file) asks which of two
answers the named person would prefer, the response against an opponent (the dataset's chosen answer, or another
run's response to the same question), in both orders.

A response wins only when the judge prefers it in both orders; opposite verdicts are a tie (position bias) and a
reply that names neither answer is unparseable, both recorded, neither counted as a win. Every request goes through
the on-disk request cache, so a re-run sends only what has no reply yet; requests that failed are named and the run
stops with an error after storing everything that did arrive.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from famous_persona import judge_prompts
from famous_persona.errors import DataError
from famous_persona.io import DatasetDir, RecordError, read_rows
from famous_persona.llm.backend import Tally, make_request
from famous_persona.llm.cache import RequestCache, run_cached
from famous_persona.llm.config import BackendConfig, open_backend
from famous_persona.llm.cost import price
from famous_persona.wording import Wording, default_wording

ORDERS = ("response_first", "response_second")


def opponents(rows: list[dict], dataset: DatasetDir, against: str) -> dict[str, str]:
    """The answer each response is compared with: `chosen` from pairs.jsonl, or the responses in a directory's
    generations.jsonl (e.g. the base model's, for the same questions)."""
    if against == "chosen":
        return {pair.id: pair.chosen for pair in dataset.pairs()}
    path = Path(against) / "generations.jsonl"
    if not path.is_file():
        raise RecordError(path, None, None, "file not found; --against is 'chosen' or a directory of generations")
    found = {row["id"]: row["response"] for row in read_rows(path)}
    missing = [row["id"] for row in rows if row["id"] not in found]
    if missing:
        raise DataError(f"{path}: no response for {len(missing)} ids, e.g. {missing[:3]}")
    return found


def outcome(first: int | None, second: int | None) -> str:
    """win / loss / tie / unparseable from the verdicts with the response shown first (1 = it) and second (2 = it)."""
    if first is None or second is None:
        return "unparseable"
    if (first, second) == (1, 2):
        return "win"
    if (first, second) == (2, 1):
        return "loss"
    return "tie"


def judge_persona(
    rows: list[dict],
    dataset: DatasetDir,
    backend: BackendConfig,
    cache_path: Path,
    against: str,
    seed: int = 0,
    wording: Wording | None = None,
) -> tuple[list[dict], dict]:
    """One verdict per response and the request tally; raises after a run in which some requests failed."""
    questions = {pair.id: pair.prompt for pair in dataset.pairs()}
    other = opponents(rows, dataset, against)
    wording = wording or default_wording()
    requests = []
    for row in rows:
        shown = (row["response"], other[row["id"]])
        for order, (first, second) in zip(ORDERS, (shown, shown[::-1]), strict=True):
            text = judge_prompts.worded_request(wording, row["name"], questions[row["id"]], first, second)
            messages = judge_prompts.worded_messages(wording, text)
            requests.append(make_request(f"{row['id']}/{order}", backend.model, messages, backend.params(seed, 0)))
    tally, cache = Tally(), RequestCache(cache_path)
    try:
        judge = open_backend(backend, tally, seed)
        results = asyncio.run(run_cached(requests, judge, cache, tally, price, desc="persona judge"))
    finally:
        cache.close()
    if results.failures:
        raise DataError(
            f"persona judge: {len(results.failures)} of {len(requests)} requests failed "
            f"(e.g. {next(iter(results.failures.items()))}); the replies that arrived are cached, run again to finish"
        )
    verdicts = []
    for row in rows:
        replies = [results.completions[f"{row['id']}/{order}"].text for order in ORDERS]
        result = outcome(*(judge_prompts.parse_verdict(reply) for reply in replies))
        key = {name: row[name] for name in ("id", "name", "question_type", "seen", "fold")}
        verdicts.append({**key, "outcome": result, "against": against, "judge_text": replies})
        verdicts[-1]["metrics"] = {"gen_judge_win": result == "win"}
    return verdicts, tally.as_dict()
