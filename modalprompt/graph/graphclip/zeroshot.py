"""Zero-shot node classification and few-shot prompt tuning helpers."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import functional as F
from torch_geometric.data import Batch, Data

from modalprompt.graph.graphclip.config import GraphClipConfig
from modalprompt.graph.graphclip.encoder import GraphClipEncoder
from modalprompt.graph.graphclip.model import GraphClipModel
from modalprompt.graph.tag.types import TextAttributedGraph

__all__ = ["class_embeddings", "zero_shot_predict", "prompt_tune"]


def class_embeddings(
    tag: TextAttributedGraph,
    embed: Callable[[list[str]], Tensor],
    template: str = "this node belongs to {}",
) -> Tensor:
    """``(C, d)`` embeddings of ``template`` + class name + description (official eval.py)."""
    return embed(tag.class_texts(template))


@torch.no_grad()
def zero_shot_predict(
    encoder: GraphClipEncoder, graphs: list[Data], class_emb: Tensor, batch_size: int = 256
) -> Tensor:
    """``argmax_c cos(ĝ, t̂_c)`` per subgraph → ``(T,)`` predicted classes."""
    if class_emb.size(-1) != encoder.out_dim:
        raise ValueError(
            f"class embeddings have dimension {class_emb.size(-1)} but the graph projector "
            f"outputs {encoder.out_dim}: the text encoder does not match this graph encoder"
        )
    encoder.eval()
    t = F.normalize(class_emb, dim=-1)
    preds = []
    for i in range(0, len(graphs), batch_size):
        g = F.normalize(encoder(Batch.from_data_list(graphs[i : i + batch_size])), dim=-1)
        preds.append((g @ t.t()).argmax(-1))
    return torch.cat(preds)


def prompt_tune(
    encoder: GraphClipEncoder,
    graphs: list[Data],
    class_emb: Tensor,
    epochs: int = 50,
    lr: float = 1e-2,
    seed: int = 0,
) -> GraphClipModel:
    """Few-shot GraphCLIP prompt tuning (full batch over the few labelled subgraphs)."""
    config = GraphClipConfig(num_classes=int(class_emb.size(0)), seed=seed)
    torch.manual_seed(seed)
    model = GraphClipModel(encoder, config)
    model.set_class_embeddings(class_emb)
    opt = torch.optim.Adam(model.trainable_parameters(), lr=lr)
    batch = Batch.from_data_list(graphs)
    model.train()
    for _ in range(epochs):
        opt.zero_grad()
        model.training_step(batch)["loss"].backward()
        opt.step()
    return model.eval()
