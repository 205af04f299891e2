"""What the point-cloud heads read (issue 22, mutation survivors): IDPT's four ``cls_type``
readouts and VPT's cls ‖ max over the patch tokens (never the prompts)."""

from __future__ import annotations

import pytest
import torch

import modalprompt as mp
from modalprompt.pointcloud.testing import tiny_backbone


def _idpt(cls_type: str):
    torch.manual_seed(0)
    config = mp.get_config("idpt", num_classes=3, prompt_layer=1, k=4, cls_type=cls_type)
    return mp.get_prompt_model(tiny_backbone(), config).eval()


def test_idpt_readouts_are_slices_of_cls_prompt_and_max_patches():
    points = torch.randn(2, 64, 3, generator=torch.Generator().manual_seed(1))
    full = _idpt("all").features(points)
    dim = full.size(-1) // 3
    cls, prompt, patches = full[:, :dim], full[:, dim : 2 * dim], full[:, 2 * dim :]
    expected = {
        "promptonly": prompt,
        "promptcls": torch.cat([cls, prompt], -1),
        "pointcls": torch.cat([cls, patches], -1),
    }
    for cls_type, want in expected.items():
        model = _idpt(cls_type)  # same seed: the same prompt generator
        torch.testing.assert_close(model.features(points), want)
        assert model(points).shape == (2, 3)


def test_idpt_prompt_position_starts_small():
    """Point-MAE's / IDPT's ``trunc_normal_(std=0.02)``, not the unit default."""
    std = _idpt("all").prompt_pos.std().item()
    assert 0.005 < std < 0.05


@pytest.mark.parametrize("method", ["vpt_shallow", "vpt_deep"])
def test_vpt_head_reads_the_cls_token_and_the_max_over_patches_only(method):
    torch.manual_seed(0)
    config = mp.get_config(method, num_classes=3, num_prompts=2)
    model = mp.get_prompt_model(tiny_backbone(), config).eval()
    points = torch.randn(2, 64, 3, generator=torch.Generator().manual_seed(2))
    x = model.backbone.norm(model.encode(points))
    groups = model.backbone.config.num_group
    assert x.size(1) >= 1 + groups + 2  # cls, the patches, then the prompts
    head_input = torch.cat([x[:, 0], x[:, 1 : 1 + groups].max(dim=1).values], -1)
    torch.testing.assert_close(model(points), model.head(head_input))
