"""Load the node-level GIN checkpoints RELIEF ships (``node_level/pretrained_models/*.pth``).

RELIEF's node-level backbone is its ``model.GIN``: ``conv_layers`` of PyG ``GINConv`` with an
MLP ``Linear-ReLU-Linear``, leaky ReLU (and dropout) between convolutions, none after the last,
mean-pooled. Its checkpoints (``GPPT_<Dataset>.pth`` for "MaskedEdge", ``Gprompt_<Dataset>.pth``
for "ContraEdge" pre-training) are plain state dicts:

    conv_layers.{i}.eps            (1,)         GINConv's fixed epsilon (a buffer)
    conv_layers.{i}.nn.0.weight    (hidden, in)
    conv_layers.{i}.nn.0.bias      (hidden,)
    conv_layers.{i}.nn.2.weight    (hidden, hidden)
    conv_layers.{i}.nn.2.bias      (hidden,)

They were trained on the features of PyG's ``SVDFeatureReduction(100)`` (``U S``), whose column
signs are whatever LAPACK returned on the authors' machine: the encoder only means something on
those exact features (RELIEF commits them as ``dataset/Planetoid/<Name>/processed/data.pt``);
:func:`~modalprompt.graph.datasets.node_tasks.svd_features` fixes signs its own way.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import Tensor

from modalprompt.graph.backbones.node_encoders import NodeEncoder

__all__ = ["load_relief_node_checkpoint"]

_KEY = re.compile(r"conv_layers\.(\d+)\.(eps|nn\.0\.weight|nn\.0\.bias|nn\.2\.weight|nn\.2\.bias)")


def load_relief_node_checkpoint(
    source: str | Path | dict[str, Tensor], dropout: float = 0.0
) -> NodeEncoder:
    """A :class:`NodeEncoder` (GIN, leaky ReLU) holding an official RELIEF node-level checkpoint.

    Sizes (input width, hidden width, layers) are read from the tensors. Keys outside RELIEF's
    GIN, missing tensors and inconsistent shapes raise a ``ValueError`` naming them.

    Args:
        source: A ``.pth`` path (read with ``torch.load(weights_only=True)``) or a state dict.
        dropout: Dropout between layers (only active in training mode; a frozen backbone is in
            eval mode).
    """
    if not isinstance(source, dict):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"source: no checkpoint at {path}")
        source = torch.load(path, map_location="cpu", weights_only=True)
    state = {k.removeprefix("module."): v for k, v in source.items()}
    unexpected = sorted(k for k in state if not _KEY.fullmatch(k))
    if unexpected:
        raise ValueError(
            f"source: keys outside RELIEF's node-level GIN (conv_layers.<i>.eps / .nn.0 / .nn.2): "
            f"{unexpected[:8]}"
        )
    layers = 1 + max((int(_KEY.fullmatch(k).group(1)) for k in state), default=-1)
    if layers == 0:
        raise ValueError("source: the checkpoint holds no conv_layers tensors")
    first = state.get("conv_layers.0.nn.0.weight")
    if first is None or first.dim() != 2:
        raise ValueError("source: conv_layers.0.nn.0.weight (hidden, in_dim) is missing")
    hidden, in_dim = (int(n) for n in first.shape)
    encoder = NodeEncoder(
        in_dim, hidden=hidden, num_layers=layers, conv="gin", dropout=dropout,
        activation="leaky_relu",
    )  # fmt: skip
    own = {k.replace("convs.", "conv_layers.", 1): k for k in encoder.state_dict()}
    missing = sorted(set(own) - set(state))
    expected = encoder.state_dict()
    wrong = [
        f"{k}: {tuple(state[k].shape)} vs {tuple(expected[own[k]].shape)}"
        for k in own
        if k in state and state[k].shape != expected[own[k]].shape
    ]
    if missing or wrong:
        raise ValueError(
            f"source: does not fit a {layers}-layer GIN {in_dim} -> {hidden}: missing "
            f"{missing[:8]}, shape mismatches {wrong[:5]}"
        )
    encoder.load_state_dict({own[k]: state[k].float() for k in own})
    return encoder
