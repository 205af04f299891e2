"""Issue 19 finding 6: a training set whose last batch holds one example trains every point-cloud
method (the classification head's BatchNorm used to raise "Expected more than 1 value per
channel")."""

from __future__ import annotations

import pytest
import torch

import modalprompt as mp
from modalprompt.core.registry import get_method_spec
from modalprompt.pointcloud.heads import HeadBatchNorm
from modalprompt.pointcloud.testing import tiny_case


@pytest.mark.parametrize("method", ["idpt", "vpt_shallow", "vpt_deep", "point_peft"])
def test_a_one_example_last_batch_trains(method, tmp_path):
    case = tiny_case(get_method_spec(method))
    model = mp.get_prompt_model(case.backbone, case.config)
    points, labels = case.batch
    data = torch.utils.data.TensorDataset(points[:5], labels[:5])  # batches of 2, 2, 1
    args = mp.TrainingArguments(
        output_dir=str(tmp_path), max_epochs=1, batch_size=2, lr=1e-3, save_every=0
    )
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    mp.Trainer(model, args, train_data=data).fit()
    assert any(
        not torch.equal(before[n], p) for n, p in model.named_parameters() if p.requires_grad
    )


def test_one_example_uses_running_statistics_and_leaves_them():
    norm = HeadBatchNorm(4).train()
    with torch.no_grad():
        norm(torch.randn(8, 4))  # move the running statistics off their start
    mean, var = norm.running_mean.clone(), norm.running_var.clone()
    x = torch.randn(1, 4)
    out = norm(x)
    torch.testing.assert_close(out, (x - mean) / torch.sqrt(var + norm.eps))
    assert torch.equal(norm.running_mean, mean) and torch.equal(norm.running_var, var)
    batch = torch.randn(3, 4)  # larger batches: plain BatchNorm1d
    reference = torch.nn.BatchNorm1d(4).train()
    reference.load_state_dict(norm.state_dict())
    torch.testing.assert_close(norm(batch), reference(batch))
