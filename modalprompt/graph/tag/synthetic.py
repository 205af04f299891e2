"""A procedural text-attributed graph for tests: communities that each talk about one topic."""

from __future__ import annotations

import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from modalprompt.graph.tag.types import TextAttributedGraph

__all__ = ["procedural_tag"]


def procedural_tag(
    num_classes: int = 4,
    nodes_per_class: int = 30,
    words_per_topic: int = 12,
    words_per_node: int = 8,
    p_in: float = 0.15,
    p_out: float = 0.01,
    topic_purity: float = 0.7,
    prefix: str = "t",
    seed: int = 0,
) -> TextAttributedGraph:
    """A stochastic block model whose node texts mix a topic vocabulary with shared noise words.

    Node ``i`` of class ``c`` draws ``topic_purity`` of its words from class ``c``'s vocabulary
    (``"{prefix}{c}w{j}"``) and the rest from a shared vocabulary; edges are inside a class with
    probability ``p_in`` and across with ``p_out``. Class names are ``"{prefix}topic{c}"`` and each
    description lists the topic's first words, so zero-shot from class texts is solvable.

    Shapes:
        data.edge_index ``(2, E)`` undirected; data.y ``(N,)``,
        ``N = num_classes * nodes_per_class``.
    """
    if num_classes < 1 or nodes_per_class < 1:
        raise ValueError(
            f"num_classes and nodes_per_class must be >= 1, got {num_classes}, {nodes_per_class}"
        )
    g = torch.Generator().manual_seed(seed)
    n = num_classes * nodes_per_class
    y = torch.arange(num_classes).repeat_interleave(nodes_per_class)
    same = y[:, None] == y[None, :]
    prob = torch.where(same, torch.tensor(p_in), torch.tensor(p_out))
    adj = torch.rand(n, n, generator=g) < prob
    adj = torch.triu(adj, diagonal=1)
    edge_index = to_undirected(adj.nonzero().t(), num_nodes=n)
    shared = [f"common{j}" for j in range(words_per_topic)]
    texts = []
    for i in range(n):
        c = int(y[i])
        words = []
        for _ in range(words_per_node):
            if float(torch.rand(1, generator=g)) < topic_purity:
                words.append(
                    f"{prefix}{c}w{int(torch.randint(words_per_topic, (1,), generator=g))}"
                )
            else:
                words.append(shared[int(torch.randint(len(shared), (1,), generator=g))])
        texts.append(" ".join(words))
    names = [f"{prefix}topic{c}" for c in range(num_classes)]
    desc = {
        names[c]: " ".join(f"{prefix}{c}w{j}" for j in range(min(4, words_per_topic)))
        for c in range(num_classes)
    }
    data = Data(edge_index=edge_index, y=y, num_nodes=n)
    return TextAttributedGraph(data, texts, names, desc)
