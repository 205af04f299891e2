"""Tiny GraphCLIP case for the contract tests."""

from __future__ import annotations

from typing import Any

from modalprompt.core.testing import TinyCase

__all__ = ["tiny_case"]


def tiny_case(spec: Any, seed: int = 0) -> TinyCase:
    import torch
    from torch_geometric.data import Batch

    from modalprompt.graph.graphclip.data import subgraph_pairs
    from modalprompt.graph.graphclip.encoder import GraphClipEncoder
    from modalprompt.graph.graphclip.text import CachedTextEmbedder, HashingTextEncoder
    from modalprompt.graph.tag.synthetic import procedural_tag

    config = spec.config_cls.from_dict({**spec.tiny, "method": spec.name})
    tag = procedural_tag(num_classes=config.num_classes, nodes_per_class=6, seed=seed)
    embed = CachedTextEmbedder(HashingTextEncoder(dim=16))
    graphs, _ = subgraph_pairs(tag, embed, torch.arange(0, 18, 3), None, max_nodes=8, seed=seed)
    torch.manual_seed(seed)
    encoder = GraphClipEncoder(16, hidden=16, out_dim=16, num_layers=1, heads=2)
    return TinyCase(encoder, config, Batch.from_data_list(graphs))
