import pytest
import torch
from torch import nn

pytest.importorskip("torch_geometric")
from torch_geometric.data import Batch  # noqa: E402

from modalprompt.graph.readout import ProjectionHead  # noqa: E402
from modalprompt.graph.relief.rollout import PromptRollout  # noqa: E402
from modalprompt.graph.relief.row_cache import RowCachedLinears  # noqa: E402
from modalprompt.graph.synthetic import procedural_graphs, tiny_gnn  # noqa: E402


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).eval()


def test_only_changed_rows_are_multiplied_and_results_match():
    mlp, x = _mlp(), torch.randn(10, 6)
    cache = RowCachedLinears(mlp)
    with torch.no_grad():
        with cache.active():
            first = mlp(x)
        assert cache.rows_computed == 20  # both layers, every row
        x2 = x.clone()
        x2[3] += 1.0
        x2[7, 0] = float("nan")
        with cache.active():
            second = mlp(x2)
        assert cache.rows_computed == 20 + 2 * 2  # rows 3 and 7, in both layers
        torch.testing.assert_close(first, mlp(x))
        torch.testing.assert_close(second, mlp(x2), equal_nan=True)
        second.mul_(0)  # the caller owns its output: the cache must not see this
        with cache.active():
            third = mlp(x2)
        torch.testing.assert_close(third, mlp(x2), equal_nan=True)
        assert cache.rows_computed == 20 + 4 + 2  # the NaN row is always recomputed
    for linear in cache.linears:
        assert "forward" not in vars(linear)  # patched only inside active()


def test_grad_mode_and_new_shapes_compute_everything():
    mlp, x = _mlp(), torch.randn(5, 6, requires_grad=True)
    cache = RowCachedLinears(mlp)
    with cache.active():
        mlp(x).sum().backward()
    assert cache.rows_computed == cache.rows_seen == 10 and x.grad is not None
    with torch.no_grad(), cache.active():
        out = mlp(torch.randn(7, 6))
    assert out.shape == (7, 3) and cache.rows_computed == 24


def _molecule_gin():
    pytest.importorskip("rdkit")
    from modalprompt.graph.backbones import MoleculeGIN
    from modalprompt.graph.datasets.molecules import smiles_to_graph

    torch.manual_seed(0)
    gnn = MoleculeGIN(num_layer=3, emb_dim=16)
    smiles = ["CCOC(=O)c1ccccc1N", "CCCCCCCCCCO", "c1ccc2ccccc2c1", "CC(C)NCC(O)COc1ccccc1"]
    graphs = [smiles_to_graph(s) for s in smiles]
    for i, graph in enumerate(graphs):
        graph.y = torch.tensor([[float(i % 2), 1.0 - i % 2]])
    with torch.no_grad():  # warm BatchNorm statistics, as a pre-trained GNN has
        gnn.train()(Batch.from_data_list(graphs))
    return gnn.eval(), graphs


@pytest.mark.parametrize("backbone", ["pyg_gin", "molecule_gin"])
def test_incremental_rollout_equals_full_forwards(backbone):
    if backbone == "pyg_gin":
        gnn, graphs = tiny_gnn(), procedural_graphs(5, min_nodes=8, max_nodes=14, num_tasks=2)
    else:
        gnn, graphs = _molecule_gin()
    dim = int(gnn.prompt_dim)
    head = ProjectionHead(int(gnn.out_dim), 2, 2)
    fast = PromptRollout(gnn, head, "multilabel", 40)
    full = PromptRollout(gnn, head, "multilabel", 40, incremental=False)
    batch = Batch.from_data_list(graphs)
    for a, b in zip(fast.reset(batch), full.reset(batch)):
        torch.testing.assert_close(a, b)
    g = torch.Generator().manual_seed(0)
    sizes = torch.tensor([graph.num_nodes for graph in graphs])
    while bool(full.active().any()):
        node = (torch.rand(len(graphs), generator=g) * sizes).long()
        z = torch.randn(len(graphs), dim, generator=g)
        for a, b in zip(fast.step(node, z), full.step(node, z)):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert full.row_cache is None
    # a prompt reaches one hop further per layer: most rows of the early layers are reused
    assert fast.row_cache.rows_computed < 0.8 * fast.row_cache.rows_seen
