"""Retrieval prefixes: a hand-checked ranking for BM25 and embeddings, the leakage rules, determinism."""

from __future__ import annotations

import pytest

from famous_persona.errors import DataError
from famous_persona.schema import Pair
from sampling.prefixes.bake import bake_records
from sampling.prefixes.build import build_prefixes
from sampling.prefixes.retrieval import EMBEDDER, Retriever, rank

QUESTIONS = {
    "q": "How do I prune an apple tree in my orchard?",
    "a": "When should I prune the apple trees in an orchard?",
    "b": "Which apple tree variety is sweetest?",
    "c": "Recommend a recipe for lentil soup.",
    "d": "Fix a flat bicycle tyre quickly.",
    "e": "Explain recursion using Python.",
}
METHODS = ["xyw_2s_bm25", "xyw_2s_emb"]


def _pair(pair_id: str, prompt: str) -> Pair:
    return Pair(
        id=pair_id, name="Ada", prompt=prompt, chosen="yes", rejected="no", question_type="personal", split="train"
    )


@pytest.fixture(scope="module")
def pool() -> list[Pair]:
    return [_pair(pair_id, prompt) for pair_id, prompt in QUESTIONS.items()]


@pytest.fixture(scope="module", params=["bm25", "emb"])
def retriever(request, pool) -> Retriever:
    return Retriever(request.param, [pair.prompt for pair in pool])


def _ids(retriever: Retriever, pool: list[Pair], k: int, reverse: bool) -> list[str]:
    scores = retriever.scorer(pool)(QUESTIONS["q"])
    return [pair.id for pair in rank(pool, scores, k, "q", reverse)]


def test_most_similar_questions_come_first_and_never_the_query_itself(retriever, pool):
    assert _ids(retriever, pool, 2, reverse=False) == ["a", "b"]
    assert "q" not in _ids(retriever, pool, len(pool), reverse=False)


def test_reverse_gives_the_opposite_end(retriever, pool):
    everything = _ids(retriever, pool, len(pool), reverse=False)
    assert len(everything) == len(pool) - 1
    assert set(_ids(retriever, pool, 3, reverse=True)) == {"c", "d", "e"}
    if retriever.kind == "emb":
        assert _ids(retriever, pool, len(pool), reverse=True) == everything[::-1]


def test_bm25_ties_are_ordered_by_pair_id(pool):
    retriever = Retriever("bm25", [pair.prompt for pair in pool])
    assert _ids(retriever, pool, 3, reverse=True) == ["c", "d", "e"]
    assert [pair.id for pair in rank(pool[::-1], [0.0] * len(pool), 2, "b", reverse=False)] == ["a", "c"]


def test_a_shuffled_retrieval_prefix_is_refused(world):
    with pytest.raises(DataError, match="cannot be shuffled"):
        build_prefixes("shuffle_xyw_2s_bm25", world.personas(), world.pairs())


def test_retrieved_persona_is_inferred_from_the_retrieved_shots(world, built):
    """The templated inference on the synthetic world; a model-written one is tested with persona inference."""
    people, pairs = world.personas(), world.pairs()
    xyw = {p.pair_id: p.shots for p in built["xyw_2s_bm25"]}
    personas = build_prefixes("persona_xy_2s_bm25", people, pairs)
    assert {p.pair_id: p.shots for p in personas} == xyw
    assert all(p.model == "template" and "Question:" not in p.text for p in personas)
    assert len({p.text for p in personas}) > len(people)


@pytest.fixture(scope="module")
def built(world) -> dict[str, list]:
    return {method: build_prefixes(method, world.personas(), world.pairs()) for method in METHODS}


@pytest.mark.parametrize("method", METHODS)
def test_every_pair_gets_its_own_prefix_from_its_persons_other_train_pairs(world, built, method):
    pairs = world.pairs()
    by_id = {pair.id: pair for pair in pairs}
    prefixes = built[method]
    assert sorted((p.name, p.pair_id) for p in prefixes) == sorted((pair.name, pair.id) for pair in pairs)
    for prefix in prefixes:
        shown = [by_id[pair_id] for pair_id in prefix.shots]
        assert len(shown) == 2 and prefix.pair_id not in prefix.shots
        assert all(pair.split == "train" and pair.name == prefix.name for pair in shown)
        assert all(pair.prompt in prefix.text for pair in shown)
        assert prefix.model == ("bm25" if method.endswith("bm25") else EMBEDDER)


@pytest.mark.parametrize("method", METHODS)
def test_baking_finds_each_rows_own_prefix_without_leakage(world, built, method):
    pairs = world.pairs()
    own = {prefix.pair_id: prefix for prefix in built[method]}
    for split in ("train", "test"):
        records = bake_records(method, pairs, built[method], split)
        assert len(records) == sum(pair.split == split for pair in pairs)
        for record in records:
            assert record.prompt[0].content.startswith(own[record.id].text)


def test_building_twice_gives_identical_records(world, built):
    for method in METHODS:
        assert build_prefixes(method, world.personas(), world.pairs()) == built[method]


def test_reverse_prefixes_show_the_least_similar_pairs_first(world):
    people, pairs = world.personas(), world.pairs()
    by_id = {pair.id: pair for pair in pairs}
    retriever = Retriever("emb", [pair.prompt for pair in pairs])
    for prefix in build_prefixes("xywyl_2s_emb_reverse", people, pairs):
        pool = [p for p in pairs if p.name == prefix.name and p.split == "train"]
        scores = retriever.scorer(pool)(by_id[prefix.pair_id].prompt)
        ranked = [pair.id for pair in rank(pool, scores, len(pool), prefix.pair_id, False)]
        assert prefix.shots == ranked[::-1][:2]
        assert "Rejected answer:" in prefix.text
