"""Log-probabilities of answers with shared prefixes computed once: the fast scorer (same results as `logprobs`).

Sequences are tokenized in full exactly as the naive scorer does, then put in a compressed trie of token ids
(`prefix_tree`). Nodes whose subtree is longer than `row_tokens` (long shared prefixes, e.g. a person's) run first,
depth by depth, each continuing its ancestors' cached keys/values. Every smaller subtree is then packed with its
siblings into one row after their common parent's cached keys/values, with an attention mask that lets each token see
only its own ancestors: a shared prompt is computed once and both answers attend to its keys/values.
Each pass runs the decoder body alone; the output layer then sees only the positions that predict a scored (answer)
token, a chunk at a time, so the full-vocabulary logits of a batch never exist.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from transformers import DynamicCache, PreTrainedModel

from evaluation.prefix_tree import PrefixTree, build_tree
from famous_persona.chat import EncodedPair

ROW_TOKENS = 256
TREE_SEQUENCES = 1024
FORWARD_COST_TOKENS = 64  # a forward pass costs about as much as this many extra padded tokens
HEAD_POSITIONS = 128  # positions per output-layer chunk: 128 x 49,152 float32 logits is 25 MB on SmolLM2, small
# enough for the allocator to reuse rather than map fresh pages (page faults) for every chunk
MASKED_ATTENTION = ("sdpa", "eager")  # implementations that take a custom 4D attention mask


@dataclass
class _Row:
    """One batch row: `nodes` (depth-first) packed after the cached keys/values of node `context` (-1: none)."""

    context: int
    nodes: list[int]
    tokens: list[int] = field(default_factory=list)
    before: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    start: dict[int, int] = field(default_factory=dict)


@dataclass
class _State:
    """What earlier stages leave for later ones: keys/values of long shared prefixes and per-token log-probs."""

    segments: dict[int, torch.Tensor] = field(default_factory=dict)
    first_logp: dict[int, float] = field(default_factory=dict)
    token_logps: dict[int, list[float]] = field(default_factory=dict)
    packed: torch.Tensor | None = None
    where: dict[int, int] = field(default_factory=dict)

    def pack(self) -> None:
        """Lay the kept segments end to end, plus one zero row for padding, so a batch's context is one gather."""
        if not self.segments:
            return
        tensors = list(self.segments.values())
        starts = torch.tensor([0] + [len(t) for t in tensors]).cumsum(0).tolist()
        self.where = dict(zip(self.segments, starts, strict=False))
        self.packed = torch.cat([*tensors, tensors[0].new_zeros((1, *tensors[0].shape[1:]))])


def _row(tree: PrefixTree, context: int, nodes: list[int]) -> _Row:
    """Lay out a row: each token's position in its sequence and the row index of the token before it (-1: the
    context's last token)."""
    row = _Row(context, nodes)
    for index in nodes:
        node = tree.nodes[index]
        row.start[index] = len(row.tokens)
        parent = tree.nodes[node.parent] if node.parent in row.start else None
        for j, token in enumerate(node.tokens):
            if j:
                row.before.append(len(row.tokens) - 1)
            else:
                row.before.append(row.start[node.parent] + len(parent.tokens) - 1 if parent else -1)
            row.tokens.append(token)
            row.positions.append(node.offset + j)
    return row


def _plan(tree: PrefixTree, row_tokens: int) -> list[list[_Row]]:
    """Stages of rows: nodes with a subtree over `row_tokens` alone, by depth; then the smaller subtrees, siblings
    packed together up to `row_tokens`."""
    tokens, count = tree.subtree_sizes()
    stages: dict[int, list[_Row]] = defaultdict(list)
    siblings: dict[int, list[int]] = defaultdict(list)
    for index, node in enumerate(tree.nodes):
        if tokens[index] > row_tokens:
            stages[node.level].append(_row(tree, node.parent, [index]))
        elif node.parent < 0 or tokens[node.parent] > row_tokens:
            siblings[node.parent].append(index)
    packed: list[_Row] = []
    for parent, anchors in siblings.items():
        group: list[int] = []
        for anchor in anchors:
            if group and sum(tokens[a] for a in group) + tokens[anchor] > row_tokens:
                packed.append(_row(tree, parent, [i for a in group for i in range(a, a + count[a])]))
                group = []
            group.append(anchor)
        packed.append(_row(tree, parent, [i for a in group for i in range(a, a + count[a])]))
    return [stages[level] for level in sorted(stages)] + [packed]


def _batches(rows: list[_Row], batch_size: int) -> list[list[_Row]]:
    """Rows sorted by length and cut into runs of at most `batch_size` so that padded tokens plus a fixed cost per
    forward pass are fewest (an exact dynamic program over the sorted order)."""
    order = sorted(rows, key=lambda row: (len(row.tokens), row.context))
    best = [0.0] + [float("inf")] * len(order)
    cut = [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        for begin in range(max(0, end - batch_size), end):
            cost = best[begin] + FORWARD_COST_TOKENS + (end - begin) * len(order[end - 1].tokens)
            if cost < best[end]:
                best[end], cut[end] = cost, begin
    batches, end = [], len(order)
    while end:
        batches.append(order[cut[end] : end])
        end = cut[end]
    return batches[::-1]


def _context_cache(tree: PrefixTree, rows: list[_Row], state: _State, width: int) -> DynamicCache:
    """Each row's context keys/values end to end, right-padded with zeros to `width`; a fresh copy per batch."""
    padding = len(state.packed) - 1
    index: list[int] = []
    for row in rows:
        path = tree.path(row.context) if row.context >= 0 else []
        own = [state.where[a] + j for a in path for j in range(len(tree.nodes[a].tokens))]
        index += own + [padding] * (width - len(own))
    gathered = state.packed.index_select(0, torch.tensor(index, device=state.packed.device))
    context = gathered.view(len(rows), width, *state.packed.shape[1:]).permute(2, 3, 0, 4, 1, 5)
    return DynamicCache(ddp_cache_data=[(layer[0], layer[1]) for layer in context])


def _visible(row: _Row, length: int) -> np.ndarray:
    """Which row tokens each row token may attend to: itself and its ancestors; a padding token sees itself."""
    seen = np.zeros((length, length), dtype=bool)
    for query, before in enumerate(row.before):
        if before >= 0:
            seen[query] = seen[before]
        seen[query, query] = True
    padding = np.arange(len(row.tokens), length)
    seen[padding, padding] = True
    return seen


def _inputs(tree: PrefixTree, rows: list[_Row], pad_id: int, width: int, dtype: torch.dtype):
    """Right-padded tokens, their positions, and an additive mask over context + row tokens."""
    length = max(len(row.tokens) for row in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    positions = torch.zeros((len(rows), length), dtype=torch.long)
    allowed = np.zeros((len(rows), length, width + length), dtype=bool)
    for b, row in enumerate(rows):
        ids[b, : len(row.tokens)] = torch.tensor(row.tokens)
        positions[b, : len(row.tokens)] = torch.tensor(row.positions)
        allowed[b, :, : tree.nodes[row.context].end if row.context >= 0 else 0] = True
        allowed[b, :, width:] = _visible(row, length)
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(~torch.from_numpy(allowed), torch.finfo(dtype).min)
    return {"input_ids": ids, "position_ids": positions, "attention_mask": mask.unsqueeze(1)}


def _new_segments(cache: DynamicCache, width: int) -> torch.Tensor:
    """Keys and values the forward pass added, as (batch, length, layers, 2, heads, dim)."""
    added = [torch.stack([layer.keys[:, :, width:], layer.values[:, :, width:]]) for layer in cache.layers]
    return torch.stack(added).permute(2, 4, 0, 1, 3, 5)


def _queries(tree: PrefixTree, rows: list[_Row], length: int, wanted: list[int]):
    """The log-probs a batch must compute: (flat index of the predicting position, target token) per scored row token,
    then per child of a lone shared prefix its first token after the prefix's last one; prompt tokens before every
    sequence's `start` are skipped."""
    scored, heads = [], []
    for b, row in enumerate(rows):
        for index in row.nodes:
            node, start = tree.nodes[index], row.start[index]
            for j in range(max(wanted[index] - node.offset, 0), len(node.tokens)):
                if row.before[start + j] >= 0:
                    scored.append((b * length + row.before[start + j], node.tokens[j], (b, start + j)))
        if _is_shared_prefix(tree, row):
            last = b * length + len(tree.nodes[row.nodes[0]].tokens) - 1
            for child in tree.nodes[row.nodes[0]].children:
                if wanted[child] <= tree.nodes[child].offset:
                    heads.append((last, tree.nodes[child].tokens[0], child))
    queries = scored + heads
    return [q[0] for q in queries], [q[1] for q in queries], [q[2] for q in scored], [q[2] for q in heads]


def _head_logps(model: PreTrainedModel, hidden: torch.Tensor, source: list[int], target: list[int]) -> list[float]:
    """log p(target | hidden state at source) through the output layer, `HEAD_POSITIONS` positions at a time: only the
    positions asked for reach the vocabulary, and no (batch, length, vocabulary) tensor exists."""
    head = model.get_output_embeddings()
    source_ids = torch.tensor(source, dtype=torch.long, device=hidden.device)
    target_ids = torch.tensor(target, dtype=torch.long, device=hidden.device)
    out = []
    for begin in range(0, len(source), HEAD_POSITIONS):
        logits = head(hidden.index_select(0, source_ids[begin : begin + HEAD_POSITIONS])).float()
        logps = torch.log_softmax(logits, dim=-1)
        out.append(logps.gather(1, target_ids[begin : begin + HEAD_POSITIONS].unsqueeze(1)).squeeze(1))
    return torch.cat(out).tolist() if out else []


def _run_batch(
    model: PreTrainedModel, tree: PrefixTree, rows: list[_Row], state: _State, pad_id: int, wanted: list[int]
) -> None:
    """One pass of the decoder; keeps the scored tokens' log-probs and, for shared prefixes, their keys/values."""
    parameter = next(model.parameters())
    width = max(tree.nodes[row.context].end if row.context >= 0 else 0 for row in rows)
    inputs = {k: v.to(parameter.device) for k, v in _inputs(tree, rows, pad_id, width, parameter.dtype).items()}
    cache = _context_cache(tree, rows, state, width) if width else None
    out = model.get_decoder()(**inputs, cache=cache, use_cache=True)
    length = inputs["input_ids"].shape[1]
    source, target, slots, children = _queries(tree, rows, length, wanted)
    values = _head_logps(model, out.last_hidden_state.flatten(0, 1), source, target)
    picked = [[0.0] * len(row.tokens) for row in rows]
    for (b, q), value in zip(slots, values[: len(slots)], strict=True):
        picked[b][q] = value
    state.first_logp.update(zip(children, values[len(slots) :], strict=True))
    added = _new_segments(out.cache, width) if any(_is_shared_prefix(tree, row) for row in rows) else None
    for b, row in enumerate(rows):
        _record(tree, row, picked[b], added[b] if added is not None else None, state)


def _is_shared_prefix(tree: PrefixTree, row: _Row) -> bool:
    """A row of one node with children holds a long shared prefix that later rows continue (a packed row always
    holds whole subtrees)."""
    return len(row.nodes) == 1 and bool(tree.nodes[row.nodes[0]].children)


def _record(tree: PrefixTree, row: _Row, picked: list[float], added, state: _State) -> None:
    """Per-token log-probs of the row's nodes (a node's first token after a cached context comes from the stage
    before) and, for a lone shared prefix, its keys/values."""
    for index in row.nodes:
        node, start = tree.nodes[index], row.start[index]
        values = picked[start : start + len(node.tokens)]
        if row.before[start] < 0:
            values[0] = state.first_logp.pop(index, 0.0)
        state.token_logps[index] = values
    if _is_shared_prefix(tree, row):
        state.segments[row.nodes[0]] = added[: len(tree.nodes[row.nodes[0]].tokens)].clone()


def _wanted(tree: PrefixTree, starts: Sequence[int]) -> list[int]:
    """Per node, the first sequence position whose log-prob some sequence through it sums (position 0 never is)."""
    wanted = [max(node.end for node in tree.nodes)] * len(tree.nodes)
    for leaf, start in zip(tree.leaf_of, starts, strict=True):
        for index in tree.path(leaf):
            wanted[index] = min(wanted[index], max(start, 1))
    return wanted


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
def tree_logps(
    model: PreTrainedModel,
    tree: PrefixTree,
    starts: Sequence[int],
    pad_id: int,
    batch_size: int,
    row_tokens: int = ROW_TOKENS,
) -> list[tuple[float, int]]:
    """(sum of log p(token | everything before it) over positions start.., count) per sequence of the tree."""
    attention = getattr(model.config, "_attn_implementation", None) or "eager"
    if attention not in MASKED_ATTENTION:
        raise ValueError(f"the fast scorer needs {' or '.join(MASKED_ATTENTION)} attention, not {attention!r}")
    state, wanted = _State(), _wanted(tree, starts)
    for stage in _plan(tree, row_tokens):
        state.pack()
        for rows in _batches(stage, batch_size):
            _run_batch(model, tree, rows, state, pad_id, wanted)
    return [
        _sequence_logp(tree, state, leaf, start, tree.nodes[leaf].end)
        for leaf, start in zip(tree.leaf_of, starts, strict=True)
    ]


def _trees(full: Sequence[list[int]], tree_sequences: int) -> Iterator[tuple[list[int], PrefixTree]]:
    """Sequence indices sorted by token ids, cut into runs of `tree_sequences`, each with its trie."""
    order = sorted(range(len(full)), key=lambda i: full[i])
    for begin in range(0, len(order), tree_sequences):
        chunk = order[begin : begin + tree_sequences]
        yield chunk, build_tree([full[i] for i in chunk])


def computed_tokens(sequences: Sequence[tuple[list[int], list[int]]], tree_sequences: int = TREE_SEQUENCES) -> int:
    """Tokens the fast scorer runs through the model for these (prompt, completion) pairs, padding aside."""
    return sum(tree.n_tokens() for _, tree in _trees([p + c for p, c in sequences], tree_sequences))


def shared_prefix_logps(
    model: PreTrainedModel,
    sequences: Sequence[tuple[list[int], list[int]]],
    pad_id: int,
    batch_size: int,
    tree_sequences: int = TREE_SEQUENCES,
    row_tokens: int = ROW_TOKENS,
) -> list[tuple[float, int]]:
    """Like `logprobs.completion_logps` for any number of (prompt, completion) pairs; sorted by token ids and cut into
    trees of `tree_sequences` so that only one tree's keys/values are held at a time."""
    results: list[tuple[float, int]] = [(0.0, 0)] * len(sequences)
    for chunk, tree in _trees([p + c for p, c in sequences], tree_sequences):
        starts = [len(sequences[i][0]) for i in chunk]
        for index, value in zip(chunk, tree_logps(model, tree, starts, pad_id, batch_size, row_tokens), strict=True):
            results[index] = value
    return results


def score_pairs_fast(
    model: PreTrainedModel, pairs: Sequence[EncodedPair], pad_id: int, batch_size: int
) -> list[tuple[float, int, float, int]]:
    """(chosen_logp, chosen_tokens, rejected_logp, rejected_tokens) per pair, as `logprobs.score_pairs` gives."""
    sequences = [
        s for pair in pairs for s in ((pair.prompt_ids, pair.chosen_ids), (pair.prompt_ids, pair.rejected_ids))
    ]
    results = shared_prefix_logps(model, sequences, pad_id, batch_size)
    return [(*results[2 * i], *results[2 * i + 1]) for i in range(len(pairs))]
