"""The shared-prefix scorer against the naive reference: same log-probs and verdicts on every baked prefix, with a
LoRA adapter and with it disabled; the trie it runs on; sharding and merging in evaluation.score; the benchmark."""

from __future__ import annotations

import json

import pytest
import torch
from peft import LoraConfig, get_peft_model

from evaluation import shards
from evaluation.benchmark import BenchmarkArguments, run
from evaluation.fast_scoring import HEAD_POSITIONS, score_pairs_fast, shared_prefix_logps
from evaluation.prefix_tree import build_tree
from evaluation.score import ScoreArguments, score
from famous_persona import chat
from famous_persona.errors import DataError
from famous_persona.logprobs import adapter_disabled, completion_logps, score_pairs
from famous_persona.models import load_model, load_tokenizer
from tests.support.world import METHODS


def _encoded(world, model_dir, method: str) -> list[chat.EncodedPair]:
    tokenizer = load_tokenizer(model_dir)
    return [chat.encode(tokenizer, chat.conversation(r, tokenizer, 512)) for r in world.dpo(method, "test")]


def _assert_same(naive: list[tuple], fast: list[tuple]) -> None:
    """Log-probs within 1e-4, equal token counts, and the same verdict on both reference-free metrics."""
    assert len(naive) == len(fast)
    for a, b in zip(naive, fast, strict=True):
        assert abs(a[0] - b[0]) < 1e-4 and abs(a[2] - b[2]) < 1e-4
        assert (a[1], a[3]) == (b[1], b[3])
        assert (a[0] / a[1] > a[2] / a[3]) == (b[0] / b[1] > b[2] / b[3])
        assert (a[0] > a[2]) == (b[0] > b[2])


def test_the_trie_holds_each_shared_token_once_and_rebuilds_every_sequence():
    sequences = [[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 3, 4], [1, 6], [1, 2], [7, 8], [1, 2, 3, 5, 9]]
    tree = build_tree(sequences)
    assert tree.n_tokens() == len({tuple(s[: k + 1]) for s in sequences for k in range(len(s))})
    for sequence, leaf in zip(sequences, tree.leaf_of, strict=True):
        assert [t for node in tree.path(leaf) for t in tree.nodes[node].tokens] == sequence
    assert tree.leaf_of[0] == tree.leaf_of[2]
    tokens, count = tree.subtree_sizes()
    for index in range(len(tree.nodes)):
        below = [i for i in range(len(tree.nodes)) if index in tree.path(i)]
        assert below == list(range(index, index + count[index]))
        assert tokens[index] == sum(len(tree.nodes[i].tokens) for i in below)
    with pytest.raises(ValueError):
        build_tree([[1], []])


@pytest.mark.parametrize("method", METHODS)
def test_fast_scores_equal_the_naive_ones_for_every_baked_prefix(world, tiny_model, method):
    model, pairs = load_model(tiny_model), _encoded(world, tiny_model, method)
    pad_id = load_tokenizer(tiny_model).pad_token_id
    _assert_same(score_pairs(model, pairs, pad_id, 16), score_pairs_fast(model, pairs, pad_id, 5))


def test_any_split_between_cached_prefixes_and_packed_rows_changes_nothing(world, tiny_model):
    model, pairs = load_model(tiny_model), _encoded(world, tiny_model, "xyw_2s")
    pad_id = load_tokenizer(tiny_model).pad_token_id
    sequences = [(p.prompt_ids, c) for p in pairs[:8] for c in (p.chosen_ids, p.rejected_ids)]
    naive = completion_logps(model, sequences, pad_id)
    for batch_size, tree_sequences, row_tokens in ((1, 5, 4), (64, 3, 10_000), (3, 100, 40), (8, 100, 1)):
        fast = shared_prefix_logps(model, sequences, pad_id, batch_size, tree_sequences, row_tokens)
        assert [n for _, n in fast] == [n for _, n in naive]
        assert max(abs(a - b) for (a, _), (b, _) in zip(naive, fast, strict=True)) < 1e-4


def test_the_output_layer_sees_only_chunks_of_answer_predicting_positions(world, tiny_model):
    model, pairs = load_model(tiny_model), _encoded(world, tiny_model, "xyw_2s")
    shapes = []
    model.get_output_embeddings().register_forward_hook(lambda _, inputs, __: shapes.append(inputs[0].shape))
    score_pairs_fast(model, pairs, load_tokenizer(tiny_model).pad_token_id, 8)
    answers = sum(len(p.chosen_ids) + len(p.rejected_ids) for p in pairs)
    assert all(len(shape) == 2 and shape[0] <= HEAD_POSITIONS for shape in shapes)
    assert sum(shape[0] for shape in shapes) <= answers


def test_a_lora_adapter_and_its_disabled_reference_score_the_same_both_ways(world, tiny_model):
    torch.manual_seed(0)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    model = get_peft_model(load_model(tiny_model), config).eval()
    pairs = _encoded(world, tiny_model, "xyw_2s")
    pad_id = load_tokenizer(tiny_model).pad_token_id
    policy = score_pairs_fast(model, pairs, pad_id, 8)
    _assert_same(score_pairs(model, pairs, pad_id, 8), policy)
    with adapter_disabled(model):
        reference = score_pairs_fast(model, pairs, pad_id, 8)
        _assert_same(score_pairs(model, pairs, pad_id, 8), reference)
    assert max(abs(a[0] - b[0]) for a, b in zip(policy, reference, strict=True)) > 1e-3


def test_two_shards_merge_to_every_pair_once_with_the_naive_scores(world, tiny_model, tmp_path):
    common = dict(model=str(tiny_model), data=str(world.root), test_method="xyw_2s", batch_size=8)
    reference = score(ScoreArguments(**common, out=str(tmp_path / "naive"), scorer="naive"))
    out = tmp_path / "sharded"
    assert score(ScoreArguments(**common, out=str(out), num_shards=2, shard_index=1)) is None
    assert shards.shard_path(out, 1, 2).is_file() and not (out / "scores.jsonl").exists()
    summary = score(ScoreArguments(**common, out=str(out), num_shards=2, shard_index=0))
    assert summary["scorer"] == "fast" and summary["shards"] == 2 and reference["scorer"] == "naive"
    assert summary["accuracy"] == reference["accuracy"] and summary["truncated"] == reference["truncated"]
    naive_rows = [json.loads(line) for line in (tmp_path / "naive" / "scores.jsonl").read_text().splitlines()]
    rows = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [r["id"] for r in naive_rows]
    assert all(abs(a["chosen_logp"] - b["chosen_logp"]) < 1e-4 for a, b in zip(rows, naive_rows, strict=True))
    assert not list((out / "shards").iterdir())


def test_a_merge_refuses_pairs_scored_twice_or_missing(world, tmp_path):
    records = world.dpo("tag", "test")
    rows = [{"id": r.id} for r in records]
    shards.write_shard(tmp_path, 0, 2, rows[:5], {})
    assert shards.merge(tmp_path, records, 2, {}) is None
    shards.write_shard(tmp_path, 1, 2, rows[4:], {})
    with pytest.raises(DataError, match=r"shards: given twice: \['[^']+'\]$"):
        shards.merge(tmp_path, records, 2, {})
    shards.write_shard(tmp_path, 1, 2, rows[6:], {})
    with pytest.raises(DataError, match=r"shards: missing: \['[^']+'\]$"):
        shards.merge(tmp_path, records, 2, {})
    shards.write_shard(tmp_path, 1, 2, rows[5:], {})
    assert shards.merge(tmp_path, records, 2, {}) == rows


def test_people_are_split_whole_and_a_shard_outside_the_range_is_refused(world):
    records = world.dpo("tag", "test")
    parts = [shards.select(records, index, 3) for index in range(3)]
    assert sorted(r.id for part in parts for r in part) == sorted(r.id for r in records)
    assert not {r.name for r in parts[0]} & {r.name for r in parts[1]}
    assert shards.checked_shard(2, 4) == (2, 4)
    with pytest.raises(DataError, match="shard_index must be in 0..3"):
        shards.checked_shard(4, 4)


def test_the_benchmark_checks_agreement_and_ends_with_the_speedup(world, tiny_model, tmp_path, capsys):
    args = BenchmarkArguments(prefix="xyw_2s", data=str(world.root), model=str(tiny_model), repeats=1, batch_size=8)
    speedup = run(args, tmp_path)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"speedup={speedup:.2f}"
    assert any(line.endswith("verdicts that differ 0") for line in lines)
    assert any(line.startswith("token bound:") for line in lines)
    fraction = next(line for line in lines if line.startswith("bound_fraction="))
    assert float(fraction.split("=")[1]) > 0
    peak = next(line for line in lines if line.startswith("peak_rss_mb="))
    assert float(peak.split("=")[1].split()[0]) > 0
