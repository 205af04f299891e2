"""Zero-shot node classification and few-shot prompt tuning helpers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor
from torch.nn import functional as F
from torch_geometric.data import Batch, Data

from modalprompt.core.trainer import Trainer
from modalprompt.core.training_args import TrainingArguments
from modalprompt.graph.graphclip.config import GraphClipConfig
from modalprompt.graph.graphclip.encoder import GraphClipEncoder
from modalprompt.graph.graphclip.model import GraphClipModel
from modalprompt.graph.tag.types import TextAttributedGraph, class_prompts

__all__ = ["class_embeddings", "zero_shot_predict", "prompt_tune"]


def class_embeddings(
    classes: TextAttributedGraph | Sequence[str],
    embed: Callable[[list[str]], Tensor],
    template: str = "this node belongs to {}",
    descriptions: Mapping[str, str] | None = None,
) -> Tensor:
    """``(C, d)`` embeddings of ``template`` + class name (+ " which refers to " + description).

    Args:
        classes: A TAG (its class names and descriptions) or a list of target class names.
        embed: The frozen text encoder, ``texts -> (len(texts), d)``.
        template: Must contain ``{}`` (official Cora: ``"this paper has a topic on {}"``).
        descriptions: ``{class name: description}`` for a list of names (a TAG brings its own);
            when given, every class needs a non-empty one.

    Raises:
        ValueError: empty class list, empty name, or a class without description while
            descriptions are given.
    """
    if isinstance(classes, TextAttributedGraph):
        if descriptions is not None:
            raise ValueError(
                "descriptions: a TextAttributedGraph brings its own class_descriptions; "
                "pass descriptions only with a list of class names"
            )
        texts = classes.class_texts(template)
    else:
        if isinstance(classes, str):
            raise ValueError(f"classes: expected a list of class names, got the string {classes!r}")
        texts = class_prompts(list(classes), descriptions, template)
    return embed(texts)


def _check_class_emb(class_emb: Tensor, out_dim: int) -> None:
    if class_emb.dim() != 2 or class_emb.size(0) == 0:
        raise ValueError(
            f"class_emb: expected (num_classes >= 1, {out_dim}) class-text embeddings, got "
            f"{tuple(class_emb.shape)} (an empty class list?)"
        )
    if class_emb.size(-1) != out_dim:
        raise ValueError(
            f"class embeddings have dimension {class_emb.size(-1)} but the graph projector "
            f"outputs {out_dim}: the text encoder does not match this graph encoder"
        )


@torch.no_grad()
def zero_shot_predict(
    encoder: GraphClipEncoder, graphs: list[Data], class_emb: Tensor, batch_size: int = 256
) -> Tensor:
    """``argmax_c cos(ĝ, t̂_c)`` per subgraph → ``(T,)`` predicted classes."""
    _check_class_emb(class_emb, encoder.out_dim)
    if not graphs:
        return torch.zeros(0, dtype=torch.long)
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
    output_dir: str | Path | None = None,
    resume_from: str | Path | None = None,
) -> GraphClipModel:
    """Few-shot GraphCLIP prompt tuning (full batch over the few labelled subgraphs).

    Trained by the core :class:`~modalprompt.core.trainer.Trainer` (Adam, no clipping, one
    full batch per epoch on the encoder's device); with ``output_dir`` it writes metrics,
    a checkpoint per epoch and the tuned model there, and ``resume_from="latest"`` continues a
    killed run.

    Shapes:
        graphs: ``Data`` subgraphs with ``y`` ``(1,)`` in ``[0, C)``; class_emb ``(C, d)``.

    Raises:
        ValueError: no labelled subgraph, a label outside ``[0, C)``, or bad class embeddings.
    """
    _check_class_emb(class_emb, encoder.out_dim)
    if not graphs:
        raise ValueError("graphs: prompt tuning needs at least one labelled subgraph, got none")
    y = torch.cat([torch.as_tensor(getattr(g, "y", torch.tensor([-1]))).view(-1) for g in graphs])
    bad = ((y < 0) | (y >= class_emb.size(0))).nonzero().view(-1).tolist()
    if bad:
        raise ValueError(
            f"graphs: {len(bad)} subgraph(s) (e.g. positions {bad[:5]}) have a label outside "
            f"[0, {class_emb.size(0)}) (unlabelled, or more classes than class texts)"
        )
    config = GraphClipConfig(num_classes=int(class_emb.size(0)), seed=seed)
    torch.manual_seed(seed)
    model = GraphClipModel(encoder, config)
    model.set_class_embeddings(class_emb)
    args = TrainingArguments(
        output_dir=str(output_dir) if output_dir is not None else None,
        max_epochs=epochs,
        batch_size=len(graphs),
        shuffle=False,
        optimizer="adam",
        lr=lr,
        max_grad_norm=None,
        eval_strategy="no",
        restore_best=False,
        seed=seed,
        device=str(next(encoder.parameters()).device),
        log_every=1,
        verbose=False,
        tensorboard=False,
    )
    Trainer(
        model,
        args,
        train_data=list(graphs),
        collate_fn=Batch.from_data_list,
        param_groups=[{"params": model.trainable_parameters()}],
    ).fit(resume_from=resume_from)
    return model.eval()
