"""Graph–summary pairs: RWR subgraphs of a TAG with text-embedded node features."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch_geometric.data import Data

from modalprompt.graph.tag.sampling import rwr_subgraphs
from modalprompt.graph.tag.summary import default_summary
from modalprompt.graph.tag.types import TextAttributedGraph

__all__ = ["subgraph_pairs"]


def subgraph_pairs(
    tag: TextAttributedGraph,
    embed: Callable[[list[str]], Tensor],
    targets: Tensor | None = None,
    summariser: Callable[[list[str]], str] | None = default_summary,
    walk_steps: int = 64,
    restart: float = 0.5,
    max_nodes: int = 32,
    seed: int = 0,
) -> tuple[list[Data], Tensor | None]:
    """One subgraph per target node, features = text embeddings of its nodes.

    Returns:
        ``(graphs, summary_embeddings)``: each ``Data`` has ``x`` ``(n_i, d)``, ``edge_index``,
        ``center_index`` ``[0]`` and ``y`` (the centre's label); ``summary_embeddings`` is
        ``(T, d)`` (None when ``summariser`` is None, e.g. for target graphs).
    """
    if targets is None:
        targets = torch.arange(tag.num_nodes)
    targets = torch.as_tensor(targets, dtype=torch.long).view(-1)
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= tag.num_nodes):
        raise ValueError(
            f"targets: node ids must be in [0, {tag.num_nodes}), got "
            f"[{int(targets.min())}, {int(targets.max())}]"
        )
    g = torch.Generator().manual_seed(seed)
    subs = rwr_subgraphs(
        tag.data.edge_index, tag.num_nodes, targets, walk_steps, restart, max_nodes, generator=g
    )
    # embed only the nodes some subgraph uses (a large graph with few targets stays cheap)
    used = sorted({v for nodes, _, _ in subs for v in nodes.tolist()})
    row = torch.full((tag.num_nodes,), -1, dtype=torch.long)
    row[torch.tensor(used, dtype=torch.long)] = torch.arange(len(used))
    node_x = embed([tag.texts[i] for i in used])  # (len(used), d)
    graphs = []
    y = tag.data.y
    node_texts = [[tag.texts[i] for i in nodes.tolist()] for nodes, _, _ in subs]
    if summariser is None:
        summaries = None
    elif callable(getattr(summariser, "summarise_many", None)):  # batched (LLM), cached
        summaries = summariser.summarise_many(node_texts)
    else:
        summaries = [summariser(texts) for texts in node_texts]
    for nodes, edges, _ in subs:
        graphs.append(
            Data(
                x=node_x[row[nodes]],
                edge_index=edges,
                center_index=torch.tensor([0]),
                y=y[nodes[:1]].long(),
                num_nodes=int(nodes.numel()),
            )
        )
    for summary, (nodes, _, _) in zip(summaries or [], subs):
        if not isinstance(summary, str) or not summary.strip():
            raise ValueError(
                f"summariser: returned an empty summary ({summary!r}) for the subgraph of "
                f"node {int(nodes[0])}; a graph-summary pair needs text"
            )
    return graphs, (embed(summaries) if summaries is not None else None)
