"""RELIEF's node-level GIN checkpoints: official key names and shapes load into a NodeEncoder
that computes what the official module computes."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Data
from torch_geometric.nn import GINConv

from modalprompt.graph.backbones import NodeEncoder, load_relief_node_checkpoint


class OfficialStyleGIN(nn.Module):
    """The layout of RELIEF's ``node_level/model.GIN`` (names, shapes and forward), written
    from its description: GINConv(Linear-ReLU-Linear) layers, leaky ReLU between them."""

    def __init__(self, in_dim: int, hidden: int, layers: int) -> None:
        super().__init__()
        dims = [in_dim] + [hidden] * layers
        self.conv_layers = nn.ModuleList(
            GINConv(nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Linear(b, b)))
            for a, b in zip(dims[:-1], dims[1:])
        )

    def forward(self, x, edge_index):
        for conv in self.conv_layers[:-1]:
            x = F.leaky_relu(conv(x, edge_index))
        return self.conv_layers[-1](x, edge_index)


def _graph(n=6, d=10):
    edge_index = torch.tensor([[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]])
    return Data(x=torch.randn(n, d), edge_index=edge_index)


@pytest.mark.parametrize("layers", [2, 3])
def test_official_state_dict_loads_and_matches_the_official_forward(tmp_path, layers):
    torch.manual_seed(0)
    official = OfficialStyleGIN(10, 16, layers).eval()
    assert set(official.state_dict()) >= {"conv_layers.0.eps", "conv_layers.0.nn.2.weight"}
    path = tmp_path / "GPPT_Toy.pth"
    torch.save(official.state_dict(), path)
    encoder = load_relief_node_checkpoint(path).eval()
    assert (encoder.in_dim, encoder.hidden, len(encoder.convs)) == (10, 16, layers)
    assert encoder.activation == "leaky_relu"
    g = _graph()
    # negative pre-activations exist, so leaky ReLU vs ReLU would differ
    assert (official.conv_layers[0](g.x, g.edge_index) < 0).any()
    torch.testing.assert_close(encoder(g), official(g.x, g.edge_index))
    relu = NodeEncoder(10, hidden=16, num_layers=layers)
    relu.load_state_dict(encoder.state_dict())
    assert not torch.allclose(relu.eval()(g), encoder(g))


def test_bad_checkpoints_name_the_keys():
    state = OfficialStyleGIN(10, 16, 2).state_dict()
    with pytest.raises(ValueError, match="conv_layers.1.nn.2.bias"):
        load_relief_node_checkpoint(
            {k: v for k, v in state.items() if k != "conv_layers.1.nn.2.bias"}
        )
    with pytest.raises(ValueError, match="tasknet.0.weight"):
        load_relief_node_checkpoint({**state, "tasknet.0.weight": torch.zeros(3, 16)})
    bad = dict(state)
    bad["conv_layers.1.nn.0.weight"] = torch.zeros(16, 7)
    with pytest.raises(ValueError, match=r"conv_layers.1.nn.0.weight: \(16, 7\) vs \(16, 16\)"):
        load_relief_node_checkpoint(bad)
    with pytest.raises(ValueError, match="no conv_layers"):
        load_relief_node_checkpoint({})
    with pytest.raises(FileNotFoundError, match="source"):
        load_relief_node_checkpoint("/nonexistent/GPPT_Cora.pth")


def test_activation_is_checked():
    with pytest.raises(ValueError, match="activation"):
        NodeEncoder(4, activation="gelu")
