"""The backbone fingerprint's dtype check (issue 22).

The checksum samples every tensor in float64, so a float32 backbone and its float64 copy have
the same checksum: only the dtype entry of the fingerprint tells them apart. Without it a prompt
trained on one precision would load silently onto another.
"""

from __future__ import annotations

import pytest
import torch

import modalprompt as mp
from modalprompt.core.checkpoint import backbone_fingerprint, compare_fingerprints

from ._tiny import make_backbone


def _save(tmp_path):
    model = mp.get_prompt_model(make_backbone(), mp.get_config("linear_probe", num_classes=3))
    model.save_pretrained(tmp_path / "run")
    return tmp_path / "run"


def test_a_backbone_in_another_dtype_is_refused_with_the_tensor_named(tmp_path):
    """Guards the dtype comparison: same names, shapes and (float64-sampled) checksum."""
    run = _save(tmp_path)
    double = make_backbone().double()
    assert (
        backbone_fingerprint(double)["checksum"]
        == backbone_fingerprint(make_backbone())["checksum"]
    )  # the premise: only the dtype differs
    with pytest.raises(ValueError) as info:
        mp.PromptModel.from_pretrained(double, run)
    message = str(info.value)
    assert "linear.weight: dtype float32 saved, float64 now" in message
    assert "norm.num_batches_tracked" not in message  # int64 either way: not reported


def test_dtype_differences_only_where_shapes_agree():
    """A tensor whose shape differs is reported for its shape once, not also for its dtype;
    equal fingerprints give no problems."""
    current = backbone_fingerprint(make_backbone())
    assert compare_fingerprints(current, current) == []
    saved = {"tensors": {k: dict(v) for k, v in current["tensors"].items()}}
    saved["tensors"]["linear.weight"] = {"shape": [8, 5], "dtype": "float16"}
    saved["tensors"]["linear.bias"] = {"shape": [8], "dtype": "bfloat16"}
    assert compare_fingerprints(saved, current) == [
        "linear.bias: dtype bfloat16 saved, float32 now",
        "linear.weight: shape [8, 5] saved, [8, 4] now",
    ]


def test_the_same_dtype_loads(tmp_path):
    loaded = mp.PromptModel.from_pretrained(make_backbone(), _save(tmp_path))
    assert next(loaded.backbone.parameters()).dtype == torch.float32
