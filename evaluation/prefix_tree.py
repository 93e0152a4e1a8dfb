"""A compressed trie over token-id sequences: every token shared by several sequences sits in exactly one node.

The fast scorer runs each node once, so the total length of the nodes is the number of tokens it computes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Node:
    """A run of tokens at positions offset.. of every sequence below it; parent -1 marks a root."""

    parent: int
    offset: int
    tokens: list[int]
    level: int
    children: list[int] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.offset + len(self.tokens)


@dataclass
class PrefixTree:
    """Nodes in depth-first order (a parent before its children) and, per sequence, the node where it ends."""

    nodes: list[Node]
    leaf_of: list[int]

    def path(self, index: int) -> list[int]:
        """Node indices from the root down to `index`."""
        out = []
        while index >= 0:
            out.append(index)
            index = self.nodes[index].parent
        return out[::-1]

    def subtree_sizes(self) -> tuple[list[int], list[int]]:
        """Tokens and nodes in each node's subtree; nodes are numbered depth-first, so a subtree is the index range
        [i, i + nodes)."""
        tokens = [len(node.tokens) for node in self.nodes]
        nodes = [1] * len(self.nodes)
        for index in range(len(self.nodes) - 1, -1, -1):
            parent = self.nodes[index].parent
            if parent >= 0:
                tokens[parent] += tokens[index]
                nodes[parent] += nodes[index]
        return tokens, nodes

    def n_tokens(self) -> int:
        return sum(len(node.tokens) for node in self.nodes)


def _common_length(a: Sequence[int], b: Sequence[int], start: int) -> int:
    """Length of the common prefix of a and b, known to agree before `start`."""
    n = start
    limit = min(len(a), len(b))
    while n < limit and a[n] == b[n]:
        n += 1
    return n


def _runs(order: list[int], sequences: Sequence[Sequence[int]], depth: int) -> list[list[int]]:
    """Split sequences (sorted, all longer than depth) into runs that share the token at `depth`."""
    runs: list[list[int]] = []
    for index in order:
        if runs and sequences[runs[-1][0]][depth] == sequences[index][depth]:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


def build_tree(sequences: Sequence[Sequence[int]]) -> PrefixTree:
    """The compressed trie of non-empty sequences; identical sequences end in the same node."""
    if any(len(s) == 0 for s in sequences):
        raise ValueError("cannot score an empty sequence")
    nodes: list[Node] = []
    leaf_of = [-1] * len(sequences)
    order = sorted(range(len(sequences)), key=lambda i: list(sequences[i]))
    stack: list[tuple[list[int], int, int]] = [(run, 0, -1) for run in reversed(_runs(order, sequences, 0))]
    while stack:
        members, depth, parent = stack.pop()
        end = _common_length(sequences[members[0]], sequences[members[-1]], depth)
        level = nodes[parent].level + 1 if parent >= 0 else 0
        nodes.append(Node(parent, depth, list(sequences[members[0]][depth:end]), level))
        here = len(nodes) - 1
        if parent >= 0:
            nodes[parent].children.append(here)
        longer = [i for i in members if len(sequences[i]) > end]
        for i in members:
            if len(sequences[i]) == end:
                leaf_of[i] = here
        stack.extend((run, end, here) for run in reversed(_runs(longer, sequences, end)))
    return PrefixTree(nodes, leaf_of)
