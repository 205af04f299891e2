"""Gathering per-batch evaluation outputs into whole-set tensors, refusing non-finite predictions.

Shared by :meth:`modalprompt.core.trainer.Trainer.evaluate` and evaluation loops of methods that
run outside the Trainer (e.g. :func:`modalprompt.graph.relief.evaluate_relief`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch

__all__ = ["gather_outputs", "check_finite_outputs", "TARGET_KEYS"]

# evaluation outputs that are targets, not predictions: NaN there can mean "missing label"
TARGET_KEYS = frozenset({"labels", "label", "targets", "target", "y"})


def gather_outputs(
    batches: Iterable[Mapping[str, torch.Tensor]], order: Sequence[int] | None = None
) -> dict[str, torch.Tensor]:
    """Concatenate each key's per-batch outputs along dim 0 on the CPU (floating ones as
    float32), then :func:`check_finite_outputs`.

    ``order``: when the batches ran the examples in another order than the data's, the data
    position of each concatenated row; the rows are put back in data order (so the error of
    :func:`check_finite_outputs` names data positions).

    Shapes: every batch maps ``key -> (B_i, ...)``; the result maps ``key -> (sum B_i, ...)``.
    """
    collected: dict[str, list[torch.Tensor]] = {}
    for out in batches:
        for key, value in out.items():
            value = value.detach()
            collected.setdefault(key, []).append(
                value.float().cpu() if value.is_floating_point() else value.cpu()
            )
    outputs = {k: torch.cat(v) for k, v in collected.items()}
    if order is not None:
        position = torch.as_tensor(list(order), dtype=torch.long)
        for key, value in outputs.items():
            if len(value) != len(position):
                raise ValueError(
                    f"order: {len(position)} positions for {len(value)} rows of {key!r}"
                )
            outputs[key] = torch.empty_like(value).index_copy_(0, position, value)
    check_finite_outputs(outputs)
    return outputs


def check_finite_outputs(outputs: Mapping[str, torch.Tensor]) -> None:
    """Predictions with NaN/inf would be scored as (wrong) answers: refuse them, naming where."""
    for key, value in outputs.items():
        if key in TARGET_KEYS or not value.is_floating_point() or value.ndim == 0:
            continue
        bad = (~torch.isfinite(value.reshape(len(value), -1))).any(dim=1)
        if bool(bad.any()):
            where = bad.nonzero().flatten().tolist()
            raise ValueError(
                f"evaluation: {len(where)} of {len(value)} examples gave non-finite {key!r} "
                f"outputs (examples {where[:10]}{' ...' if len(where) > 10 else ''} in data "
                "order); they would be scored as wrong answers. Check the evaluation data for "
                "NaN/inf"
            )
