"""Log-probabilities of answers with shared prefixes computed once: the fast scorer (same results as `scoring`).

Sequences are tokenized in full exactly as the naive scorer does, then put in a compressed trie of token ids
(`prefix_tree`). The trie is run in stages (inner nodes by depth, then all leaves): each node is computed once,
continuing its ancestors' cached keys/values, batched with nodes of its stage of similar length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache, PreTrainedModel

from evaluation.prefix_tree import PrefixTree, build_tree
from famous_persona.chat import EncodedPair

TREE_SEQUENCES = 1024
FORWARD_COST_TOKENS = 64  # a forward pass costs about as much as this many extra padded tokens


@dataclass
class _State:
    """What the stages done so far leave for the next: keys/values of inner nodes and per-token log-probs."""

    segments: dict[int, torch.Tensor] = field(default_factory=dict)
    first_logp: dict[int, float] = field(default_factory=dict)
    token_logps: dict[int, list[float]] = field(default_factory=dict)
    packed: torch.Tensor | None = None
    where: dict[int, int] = field(default_factory=dict)

    def pack(self) -> None:
        """Lay the kept segments end to end, plus one zero row for padding, so a batch's context is one gather."""
        if not self.segments:
            self.packed, self.where = None, {}
            return
        tensors = list(self.segments.values())
        starts = torch.tensor([0] + [len(t) for t in tensors]).cumsum(0).tolist()
        self.where = dict(zip(self.segments, starts, strict=False))
        self.packed = torch.cat([*tensors, tensors[0].new_zeros((1, *tensors[0].shape[1:]))])


def _stage_batches(tree: PrefixTree, stage: list[int], batch_size: int) -> list[list[int]]:
    """Nodes of one stage sorted by length and cut into runs of at most `batch_size` so that padded tokens plus a
    fixed cost per forward pass are fewest (an exact dynamic program over the sorted order)."""
    order = sorted(stage, key=lambda i: (len(tree.nodes[i].tokens), tree.nodes[i].offset))
    lengths = [len(tree.nodes[i].tokens) for i in order]
    best = [0.0] + [float("inf")] * len(order)
    cut = [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        for begin in range(max(0, end - batch_size), end):
            cost = best[begin] + FORWARD_COST_TOKENS + (end - begin) * lengths[end - 1]
            if cost < best[end]:
                best[end], cut[end] = cost, begin
    batches, end = [], len(order)
    while end:
        batches.append(order[cut[end] : end])
        end = cut[end]
    return batches[::-1]


def _context_cache(tree: PrefixTree, batch: list[int], state: _State, width: int) -> DynamicCache:
    """Each row's ancestors' keys/values end to end, right-padded with zeros to `width`; a fresh copy per batch."""
    padding = len(state.packed) - 1
    index: list[int] = []
    for node in batch:
        row = [state.where[a] + j for a in tree.path(tree.nodes[node].parent) for j in range(len(tree.nodes[a].tokens))]
        index += row + [padding] * (width - len(row))
    rows = state.packed.index_select(0, torch.tensor(index, device=state.packed.device))
    context = rows.view(len(batch), width, *state.packed.shape[1:]).permute(2, 3, 0, 4, 1, 5)
    return DynamicCache(ddp_cache_data=[(layer[0], layer[1]) for layer in context])


def _inputs(tree: PrefixTree, batch: list[int], pad_id: int, width: int) -> dict[str, torch.Tensor]:
    """Right-padded node tokens, a mask over context + tokens, and each token's true position in its sequence."""
    nodes = [tree.nodes[i] for i in batch]
    length = max(len(node.tokens) for node in nodes)
    ids = torch.full((len(batch), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width + length), dtype=torch.long)
    positions = torch.zeros((len(batch), length), dtype=torch.long)
    for row, node in enumerate(nodes):
        ids[row, : len(node.tokens)] = torch.tensor(node.tokens)
        mask[row, : node.offset] = 1
        mask[row, width : width + len(node.tokens)] = 1
        positions[row] = torch.arange(node.offset, node.offset + length)
    return {"input_ids": ids, "attention_mask": mask, "position_ids": positions}


def _new_segments(cache: DynamicCache, width: int) -> torch.Tensor:
    """Keys and values the forward pass added, as (batch, length, layers, 2, heads, dim)."""
    added = [torch.stack([layer.keys[:, :, width:], layer.values[:, :, width:]]) for layer in cache.layers]
    return torch.stack(added).permute(2, 4, 0, 1, 3, 5)


def _run_batch(model: PreTrainedModel, tree: PrefixTree, batch: list[int], state: _State, pad_id: int) -> None:
    """One forward pass over a batch of nodes; keeps their token log-probs and, for inner nodes, keys/values."""
    device = next(model.parameters()).device
    width = max(tree.nodes[i].offset for i in batch)
    inputs = {k: v.to(device) for k, v in _inputs(tree, batch, pad_id, width).items()}
    cache = _context_cache(tree, batch, state, width) if width else None
    out = model(**inputs, cache=cache, use_cache=True)
    logps = torch.log_softmax(out.logits.float(), dim=-1)
    added = _new_segments(out.cache, width) if any(tree.nodes[i].children for i in batch) else None
    own = logps[:, :-1].gather(-1, inputs["input_ids"][:, 1:].unsqueeze(-1)).squeeze(-1).cpu()
    for row, index in enumerate(batch):
        node = tree.nodes[index]
        n = len(node.tokens)
        state.token_logps[index] = [state.first_logp.pop(index, 0.0), *own[row, : n - 1].tolist()]
        if node.children:
            state.segments[index] = added[row, :n].clone()
            last = logps[row, n - 1]
            for child in node.children:
                state.first_logp[child] = last[tree.nodes[child].tokens[0]].item()


def _sequence_logp(tree: PrefixTree, state: _State, leaf: int, start: int, length: int) -> tuple[float, int]:
    """Sum of the log-probs of positions start.. along a sequence's path; position 0 is never predicted."""
    first = max(start, 1)
    total = 0.0
    for index in tree.path(leaf):
        node = tree.nodes[index]
        if node.end > first:
            total += sum(state.token_logps[index][max(first - node.offset, 0) :])
    return total, length - first


@torch.no_grad()
def tree_logps(model: PreTrainedModel, tree: PrefixTree, starts: Sequence[int], pad_id: int, batch_size: int):
    """(sum of log p(token | everything before it) over positions start.., count) per sequence of the tree."""
    state = _State()
    for stage in tree.stages():
        state.pack()
        for batch in _stage_batches(tree, stage, batch_size):
            _run_batch(model, tree, batch, state, pad_id)
    return [
        _sequence_logp(tree, state, leaf, start, tree.nodes[leaf].end)
        for leaf, start in zip(tree.leaf_of, starts, strict=True)
    ]


def shared_prefix_logps(
    model: PreTrainedModel,
    sequences: Sequence[tuple[list[int], list[int]]],
    pad_id: int,
    batch_size: int,
    tree_sequences: int = TREE_SEQUENCES,
) -> list[tuple[float, int]]:
    """Like `scoring.completion_logps` for any number of (prompt, completion) pairs; sorted by token ids and cut into
    trees of `tree_sequences` so that only one tree's keys/values are held at a time."""
    order = sorted(range(len(sequences)), key=lambda i: sequences[i][0] + sequences[i][1])
    results: list[tuple[float, int]] = [(0.0, 0)] * len(sequences)
    for begin in range(0, len(order), tree_sequences):
        chunk = order[begin : begin + tree_sequences]
        tree = build_tree([sequences[i][0] + sequences[i][1] for i in chunk])
        starts = [len(sequences[i][0]) for i in chunk]
        for index, value in zip(chunk, tree_logps(model, tree, starts, pad_id, batch_size), strict=True):
            results[index] = value
    return results


def score_pairs_fast(
    model: PreTrainedModel, pairs: Sequence[EncodedPair], pad_id: int, batch_size: int
) -> list[tuple[float, int, float, int]]:
    """(chosen_logp, chosen_tokens, rejected_logp, rejected_tokens) per pair, as `scoring.score_pairs` gives."""
    sequences = [
        s for pair in pairs for s in ((pair.prompt_ids, pair.chosen_ids), (pair.prompt_ids, pair.rejected_ids))
    ]
    results = shared_prefix_logps(model, sequences, pad_id, batch_size)
    return [(*results[2 * i], *results[2 * i + 1]) for i in range(len(pairs))]
