"""Local-root TU/Planetoid loaders (no download) and k-hop subgraphs with size limits."""

import shutil

import pytest
import torch
from torch_geometric.data import Data

from modalprompt.graph.datasets.local import load_planetoid, load_tu_dataset
from modalprompt.graph.datasets.subgraphs import khop_subgraph


def _path_graph(n: int) -> Data:
    src = torch.arange(n - 1)
    ei = torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], 1)
    return Data(x=torch.arange(n, dtype=torch.float).view(-1, 1), edge_index=ei, y=torch.arange(n))


def test_missing_root_is_refused_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="root"):
        load_tu_dataset(tmp_path, "MUTAG")
    with pytest.raises(FileNotFoundError, match="root"):
        load_planetoid(tmp_path, "Cora")
    assert not any(tmp_path.iterdir())  # nothing fetched or written


def test_real_mutag_and_cora(shared_data, tmp_path):
    shutil.copytree(shared_data / "graph/tu/MUTAG", tmp_path / "MUTAG")
    mutag = load_tu_dataset(tmp_path, "MUTAG")
    assert len(mutag) == 188 and mutag.num_classes == 2
    shutil.copytree(shared_data / "graph/planetoid/Cora", tmp_path / "Cora")
    cora = load_planetoid(tmp_path, "Cora")[0]
    assert cora.num_nodes == 2708 and cora.x.shape[1] == 1433


def test_khop_exact_hops_and_edges():
    g = _path_graph(10)
    sub = khop_subgraph(g, 5, 2)
    assert sorted(sub.node_ids.tolist()) == [3, 4, 5, 6, 7]
    assert sub.node_ids[0] == 5 and sub.y.item() == 5
    # every subgraph edge maps to an original edge, and all 4 induced undirected edges are there
    orig = {tuple(e) for e in g.edge_index.t().tolist()}
    mapped = {(int(sub.node_ids[a]), int(sub.node_ids[b])) for a, b in sub.edge_index.t().tolist()}
    assert mapped <= orig and len(mapped) == 8
    assert torch.equal(sub.x[:, 0].long(), sub.node_ids)


def test_khop_size_limits():
    g = _path_graph(20)
    small = khop_subgraph(g, 10, 1, max_nodes=2, seed=3)
    assert small.num_nodes == 2 and small.node_ids[0] == 10
    assert abs(int(small.node_ids[1]) - 10) == 1  # the nearest hop is kept
    grown = khop_subgraph(g, 10, 1, min_nodes=7)
    assert sorted(grown.node_ids.tolist()) == list(range(7, 14))
    with pytest.raises(ValueError, match="center"):
        khop_subgraph(g, 20, 1)
