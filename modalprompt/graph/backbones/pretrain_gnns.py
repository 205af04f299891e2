"""Build and load Hu et al.'s molecule GNNs from a snap-stanford/pretrain-gnns checkpoint alone.

``from_pretrain_gnns(path)`` reads the GNN type, depth and width from the tensors:

=====================  =========================================================================
GNN type               what gives it away (layer ``i`` of ``gnns``)
=====================  =========================================================================
``gin``                ``gnns.i.mlp.0.weight`` ``(2d, d)`` and ``gnns.i.mlp.2.weight``
``gat``                ``gnns.i.att`` ``(1, heads, 2d)``, ``gnns.i.weight_linear.weight``
``gcn``/``graphsage``  ``gnns.i.linear.weight`` ``(d, d)``: the same names and shapes; told
                       apart by the BatchNorm statistics (:func:`~modalprompt.graph.backbones.
                       molecule_gnns.bn_signature`: GraphSAGE's L2-normalised outputs read 1.0)
=====================  =========================================================================

depth = number of ``batch_norms.i``; width = ``x_embedding1.weight.shape[1]``.
"""

from __future__ import annotations

import re
from pathlib import Path

from torch import Tensor

from modalprompt.graph.backbones.molecule_gin import load_pretrain_gnns_checkpoint, read_checkpoint
from modalprompt.graph.backbones.molecule_gnns import (
    GNN_TYPES,
    MoleculeGNN,
    bn_signature,
    signature_says,
)

__all__ = ["from_pretrain_gnns", "infer_pretrain_gnns_architecture"]

_LAYER = re.compile(r"(gnns|batch_norms)\.(\d+)\.")


def infer_pretrain_gnns_architecture(state: dict[str, Tensor]) -> dict[str, object]:
    """``{"gnn_type", "num_layer", "emb_dim", "heads"}`` of a pretrain-gnns GNN state dict.

    ``gnn_type`` is None when the state cannot tell ``gcn`` from ``graphsage`` (untrained
    BatchNorms). Raises a ValueError naming what is missing when it is no such state dict.
    """
    embedding = state.get("x_embedding1.weight")
    if embedding is None or embedding.dim() != 2:
        raise ValueError(
            "source: no x_embedding1.weight (num_atom_types, emb_dim): not a pretrain-gnns "
            f"molecule GNN (keys {sorted(state)[:6]})"
        )
    emb_dim = int(embedding.shape[1])
    layers = {int(m.group(2)) for k in state if (m := _LAYER.match(k))}
    num_layer = 1 + max(layers, default=-1)
    if num_layer == 0:
        raise ValueError("source: no gnns.<i> / batch_norms.<i> tensors: the GNN has no layers")
    heads = 1
    if "gnns.0.mlp.0.weight" in state:
        gnn_type: str | None = "gin"
    elif "gnns.0.att" in state:
        gnn_type, heads = "gat", int(state["gnns.0.att"].shape[1])
    elif "gnns.0.linear.weight" in state:
        gnn_type = signature_says(bn_signature(state, num_layer))
    else:
        found = sorted(k for k in state if k.startswith("gnns.0."))
        raise ValueError(
            f"source: layer 0 is none of {GNN_TYPES}: expected gnns.0.mlp.* (gin), gnns.0.att "
            f"(gat) or gnns.0.linear.* (gcn, graphsage), found {found}"
        )
    return {"gnn_type": gnn_type, "num_layer": num_layer, "emb_dim": emb_dim, "heads": heads}


def from_pretrain_gnns(
    source: str | Path | dict[str, Tensor],
    *,
    gnn_type: str | None = None,
    jk: str = "last",
    drop_ratio: float = 0.0,
) -> MoleculeGNN:
    """A :class:`~modalprompt.graph.backbones.molecule_gnns.MoleculeGNN` holding a pretrain-gnns
    checkpoint, its type, depth and width read from the file (in eval mode).

    Args:
        source: A ``.pth`` of snap-stanford/pretrain-gnns (read with
            ``torch.load(weights_only=True)``; a file that needs full unpickling is refused),
            our safetensors file, or a state dict. ``gnn.`` prefixes and the
            ``GNN_graphpred`` head are ignored.
        gnn_type: Only to state what is expected (or to build an untrained GCN/GraphSAGE state,
            whose tensors cannot tell them apart); a checkpoint of another type raises a
            ValueError naming the first key that does not fit.
        jk, drop_ratio: As the official ``GNN`` (they leave no trace in the file).

    Example::

        gnn = from_pretrain_gnns("../shared/models/pretrain-gnns/chem/gcn_contextpred.pth")
        gnn.gnn_type, gnn.num_layer, gnn.emb_dim  # ('gcn', 5, 300)
    """
    state = read_checkpoint(source)
    found = infer_pretrain_gnns_architecture(state)
    if gnn_type is not None and gnn_type not in GNN_TYPES:
        raise ValueError(f"gnn_type: expected one of {GNN_TYPES} or None, got {gnn_type!r}")
    chosen = gnn_type or found["gnn_type"]
    if chosen is None:
        raise ValueError(
            "gnn_type: the checkpoint has gcn/graphsage tensors (gnns.<i>.linear) but no trained "
            "BatchNorm statistics to tell them apart; pass gnn_type='gcn' or 'graphsage'"
        )
    model = MoleculeGNN(
        num_layer=int(found["num_layer"]),
        emb_dim=int(found["emb_dim"]),
        jk=jk,
        drop_ratio=drop_ratio,
        gnn_type=str(chosen),
        heads=int(found["heads"]),
    )
    load_pretrain_gnns_checkpoint(model, state)
    return model.eval()
