"""MixedPrecision for hand-written steps: every call is the plain one on CPU (mixed precision is
CUDA-only), bad precisions are refused by name, and graph pre-training with precision set ends
bitwise where the full-precision run ends on CPU."""

from __future__ import annotations

import pytest
import torch

from modalprompt.core.mixed_precision import MixedPrecision


def test_on_cpu_every_call_is_the_plain_one():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    twin = torch.nn.Linear(3, 1)
    twin.load_state_dict(model.state_dict())
    x = torch.randn(4, 3)
    for precision, net in (("fp16", model), ("no", twin)):
        amp = MixedPrecision("cpu", precision)
        assert amp.scaler is None and not amp.active and amp.state_dict() == {}
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        with amp.autocast():
            loss = net(x).pow(2).mean()
        assert loss.dtype == torch.float32
        amp.backward(loss)
        amp.unscale(opt)
        amp.step(opt)
    assert torch.equal(model.weight, twin.weight)
    assert not torch.equal(model.weight, torch.nn.Linear(3, 1).weight)


def test_bad_precision_is_refused_by_name():
    with pytest.raises(ValueError, match=r"precision: expected one of \('no', 'fp16', 'bf16'\)"):
        MixedPrecision("cpu", "fp8")


def test_graph_pretraining_with_precision_on_cpu_equals_full_precision():
    pytest.importorskip("torch_geometric")
    from modalprompt.graph.backbones.node_encoders import NodeEncoder
    from modalprompt.graph.pretrain import pretrain
    from modalprompt.graph.synthetic import procedural_graphs

    weights = []
    for precision in ("no", "bf16"):
        torch.manual_seed(0)
        encoder = NodeEncoder(8, hidden=8)
        pretrain(encoder, "edge_pred", procedural_graphs(6), epochs=1, batch_size=3,
                 device="cpu", precision=precision)  # fmt: skip
        weights.append(encoder.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    with pytest.raises(ValueError, match="precision: expected one of"):
        pretrain(NodeEncoder(8, hidden=8), "edge_pred", procedural_graphs(2), precision="half")


def test_graph_pretraining_verbose_prints_a_line_per_epoch(capsys):
    pytest.importorskip("torch_geometric")
    from modalprompt.graph.backbones.node_encoders import NodeEncoder
    from modalprompt.graph.pretrain import pretrain
    from modalprompt.graph.synthetic import procedural_graphs

    pretrain(NodeEncoder(8, hidden=8), "edge_pred", procedural_graphs(4), epochs=2, verbose=True)
    lines = [line for line in capsys.readouterr().out.splitlines() if "epoch_loss=" in line]
    assert [line.split()[0:2] for line in lines] == [["[edge_pred", "1/2]"], ["[edge_pred", "2/2]"]]
