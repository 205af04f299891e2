"""Node-level PyG encoders: shapes, message passing, pooling, bad input."""

import pytest
import torch
from torch_geometric.data import Batch, Data

from modalprompt.graph.backbones.node_encoders import NodeEncoder, pool_graphs


@pytest.mark.parametrize("conv", ["gin", "gcn", "gat"])
def test_shapes_and_neighbours_matter(conv):
    torch.manual_seed(0)
    enc = NodeEncoder(5, hidden=8, num_layers=2, conv=conv).eval()
    x = torch.randn(4, 5)
    g = Data(x=x, edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]))
    h = enc(g)
    assert h.shape == (4, 8)
    x2 = x.clone()
    x2[2] += 1.0  # node 2 is a neighbour of 1, not of 3 (isolated)
    h2 = enc(g, x=x2)
    assert not torch.allclose(h[1], h2[1]) and torch.allclose(h[3], h2[3])
    with pytest.raises(ValueError, match="x"):
        enc(g, x=torch.randn(4, 6))


def test_pooling_per_graph():
    h = torch.tensor([[1.0], [3.0], [10.0]])
    batch = torch.tensor([0, 0, 1])
    assert pool_graphs(h, batch, "mean").flatten().tolist() == [2.0, 10.0]
    assert pool_graphs(h, batch, "sum").flatten().tolist() == [4.0, 10.0]
    b = Batch.from_data_list([Data(x=torch.randn(2, 3), edge_index=torch.zeros(2, 0).long())] * 2)
    enc = NodeEncoder(3, hidden=4, conv="gin")
    assert enc.pool(enc(b), b.batch).shape == (2, 4)
    with pytest.raises(ValueError, match="pooling"):
        pool_graphs(h, batch, "median")
