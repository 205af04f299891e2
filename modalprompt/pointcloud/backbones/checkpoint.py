"""Loading official Point-MAE / Point-BERT checkpoints (and our own) into :class:`PointTransformer`.

Official files are ``torch.save`` pickles; they are read with ``torch.load(weights_only=True)``,
which unpickles tensors and plain containers only. One key mapping serves both releases:

* Point-MAE ``pretrain.pth``: ``ckpt["base_model"]["MAE_encoder.<name>"]`` (the decoder,
  ``mask_token``, ``decoder_pos_embed`` and ``increase_dim`` are pre-training only);
* Point-MAE / IDPT / Point-PEFT fine-tuned files: ``base_model.<name>`` or ``<name>``;
* Point-BERT: ``ckpt["base_model"]["transformer_q.<name>"]`` (with ``reduce_dim``; ``dvae``,
  ``transformer_k`` and the MoCo queue are pre-training only);
* any of them with the ``module.`` prefix DataParallel adds.

Files written by :func:`~modalprompt.pointcloud.pretrain.point_mae.pretrain_point_mae` are
safetensors with the backbone's own names.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from modalprompt.pointcloud.backbones.point_transformer import PointTransformer

__all__ = ["map_official_keys", "load_official_checkpoint"]

_PREFIXES = ("MAE_encoder.", "transformer_q.", "base_model.")


def map_official_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official names → :class:`PointTransformer` names (tensors that are not part of the
    encoder keep a name the backbone does not have, and are reported as ignored)."""
    mapped = {}
    for key, value in state.items():
        name = key.removeprefix("module.")
        for prefix in _PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix) :]
                break
        mapped[name] = value
    return mapped


def _read(path: Path) -> Mapping[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from modalprompt.core.io import load_tensors

        return load_tensors(path)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("base_model", "model", "state_dict"):
        if isinstance(raw, Mapping) and key in raw and isinstance(raw[key], Mapping):
            return raw[key]
    if isinstance(raw, Mapping):
        return raw
    raise ValueError(f"{path}: not a state dict (got {type(raw).__name__})")


def load_official_checkpoint(
    backbone: PointTransformer, source: str | Path | Mapping[str, torch.Tensor], strict: bool = True
) -> dict[str, list[str]]:
    """Load encoder weights into ``backbone``; returns ``{"missing": [...], "ignored": [...]}``.

    Args:
        backbone: The model to fill.
        source: A ``.pth``/``.pt`` (official) or ``.safetensors`` file, or a state dict.
        strict: Raise when an encoder tensor is missing (``cls_token``/``cls_pos`` are allowed
            to be missing: Point-MAE's pre-trained encoder has none) or has another shape.

    Raises:
        FileNotFoundError: no such file. ValueError: missing or mis-shaped tensors (strict).
    """
    if not isinstance(source, Mapping):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"source: no checkpoint file at {path}")
        source = _read(path)
    mapped = map_official_keys(source)
    own = backbone.state_dict()
    shape_errors = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in mapped.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    missing = sorted(set(own) - set(mapped))
    ignored = sorted(set(mapped) - set(own))
    fatal = [k for k in missing if k not in ("cls_token", "cls_pos")]
    if strict and (shape_errors or fatal):
        raise ValueError(
            "checkpoint does not fit this PointTransformer: "
            + "; ".join(
                filter(
                    None,
                    [
                        f"missing {fatal[:8]}{' ...' if len(fatal) > 8 else ''}" if fatal else "",
                        f"shape mismatches {shape_errors[:5]}" if shape_errors else "",
                    ],
                )
            )
            + " (check trans_dim / encoder_dims / depth against the checkpoint)"
        )
    backbone.load_state_dict({k: v for k, v in mapped.items() if k in own}, strict=False)
    return {"missing": missing, "ignored": ignored}
