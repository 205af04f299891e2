"""RELIEF's node-level protocol: SVD features, k-shot split, centre-labelled k-hop subgraphs."""

import shutil

import pytest
import torch
from torch_geometric.data import Batch, Data

import modalprompt as mp
from modalprompt.graph.backbones.node_encoders import NodeEncoder
from modalprompt.graph.datasets.node_tasks import (
    HOP_LIMITS,
    node_fewshot_split,
    node_fewshot_task,
    svd_features,
)
from modalprompt.graph.pretrain import pretrain


def _communities(num_classes: int = 3, size: int = 40, seed: int = 0) -> Data:
    """Planted partition: dense inside a class, sparse across; features noisy class means."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(num_classes).repeat_interleave(size)
    n = y.numel()
    same = y[:, None] == y[None, :]
    prob = torch.where(same, torch.tensor(0.15), torch.tensor(0.005))
    adj = torch.rand(n, n, generator=g) < prob
    adj = torch.triu(adj, 1)
    adj = adj | adj.t()
    means = torch.randn(num_classes, 30, generator=g)
    x = means[y] + 0.8 * torch.randn(n, 30, generator=g)
    return Data(x=x, edge_index=adj.nonzero().t(), y=y)


def test_svd_features_match_the_top_singular_subspace():
    x = torch.randn(50, 20, generator=torch.Generator().manual_seed(1))
    z = svd_features(x, 5)
    assert z.shape == (50, 5)
    u, s, _ = torch.linalg.svd(x, full_matrices=False)
    # x V_k = U_k S_k up to the sign of each column
    torch.testing.assert_close(z.abs(), (u[:, :5] * s[:5]).abs(), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(svd_features(x, 5), z)  # deterministic signs
    assert svd_features(x, 100).shape == (50, 20)  # capped at the feature width
    with pytest.raises(ValueError, match="x"):
        svd_features(torch.randn(5), 2)


def test_randomised_svd_of_a_large_input_spans_the_top_subspace():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(400, 8, generator=g) @ torch.randn(8, 300, generator=g)
    x = x + 0.01 * torch.randn(400, 300, generator=g)  # rank 8 plus noise: randomised route
    z = svd_features(x, 8)
    u, s, _ = torch.linalg.svd(x, full_matrices=False)
    torch.testing.assert_close(z.abs(), (u[:, :8] * s[:8]).abs(), atol=2e-2, rtol=1e-3)


def test_split_is_k_shot_disjoint_and_checked():
    y = torch.arange(4).repeat_interleave(30)
    train, val, test = node_fewshot_split(y, shots=5, num_val=20, num_test=30, seed=3)
    assert torch.bincount(y[train]).tolist() == [5, 5, 5, 5]
    assert len(val) == 20 and len(test) == 30
    assert len(set(train.tolist()) | set(val.tolist()) | set(test.tolist())) == 20 + 20 + 30
    again = node_fewshot_split(y, shots=5, num_val=20, num_test=30, seed=3)
    assert all(torch.equal(a, b) for a, b in zip((train, val, test), again))
    with pytest.raises(ValueError, match="shots"):
        node_fewshot_split(y, shots=31)
    with pytest.raises(ValueError, match="num_val"):
        node_fewshot_split(y, shots=5, num_val=90, num_test=20)


def test_task_subgraphs_are_centred_labelled_and_bounded():
    data = _communities()
    task = node_fewshot_task(
        data, num_hops=2, min_nodes=3, max_nodes=12, shots=4, num_val=20, num_test=20, svd_dim=8
    )
    assert (len(task.train), len(task.val), len(task.test)) == (12, 20, 20)
    assert task.feature_dim == 8 and task.num_classes == 3
    for sub, centre in zip(task.train, task.indices["train"].tolist()):
        assert sub.node_ids[0] == centre and int(sub.y) == int(data.y[centre])
        assert sub.num_nodes <= 12 and sub.x.shape[1] == 8
    assert task.max_nodes == max(g.num_nodes for g in task.train + task.val + task.test)
    assert HOP_LIMITS["cora"] == (4, 5, 150)


def test_node_encoder_pretrains_with_edge_prediction_and_hosts_gpf():
    data = _communities()
    task = node_fewshot_task(
        data, num_hops=2, max_nodes=20, shots=4, num_val=30, num_test=30, svd_dim=16
    )
    torch.manual_seed(0)
    encoder = NodeEncoder(16, hidden=32)
    result = pretrain(encoder, "edge_pred", task.val + task.test, epochs=15, batch_size=16)
    assert result.losses[-1] < result.losses[0] - 0.05
    model = mp.get_prompt_model(
        encoder, mp.get_config("gpf_plus", num_outputs=3, task_type="multiclass")
    )
    logits = model(Batch.from_data_list(task.train))
    assert logits.shape == (12, 3)


def test_real_cora_follows_reliefs_limits(shared_data, tmp_path):
    from modalprompt.graph.datasets.local import load_planetoid

    shutil.copytree(shared_data / "graph/planetoid/Cora", tmp_path / "Cora")
    cora = load_planetoid(tmp_path, "Cora")[0]
    hops, low, high = HOP_LIMITS["cora"]
    task = node_fewshot_task(
        cora, num_hops=hops, min_nodes=low, max_nodes=high, num_val=50, num_test=50
    )
    assert len(task.train) == 70 and task.num_classes == 7 and task.feature_dim == 100
    sizes = [g.num_nodes for g in task.train + task.val + task.test]
    assert max(sizes) <= high and task.max_nodes == max(sizes)
    assert sum(s >= low for s in sizes) >= 0.95 * len(sizes)  # tiny components cannot grow


def test_whole_graph_edge_prediction_steps_per_edge_chunk_with_linear_lr_decay(monkeypatch):
    """RELIEF's "MaskedEdge" (GPPT) recipe: one graph, a step per chunk of edges, lr decayed
    linearly per epoch; the embeddings then tell edges from non-edges."""
    data = _communities()
    data.x = svd_features(data.x, 16)
    edges = data.edge_index.size(1)
    seen_lrs = []
    original_step = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen_lrs.append(self.param_groups[0]["lr"])
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    torch.manual_seed(0)
    encoder = NodeEncoder(16, hidden=32, dropout=0.2, activation="leaky_relu")
    epochs, chunk = 30, 100
    result = pretrain(
        encoder, "edge_pred", [data], epochs=epochs, batch_size=1, edges_per_step=chunk,
        lr=0.01, weight_decay=5e-5, lr_decay="linear",
    )  # fmt: skip
    steps_per_epoch = -(-edges // chunk)
    assert steps_per_epoch > 1 and len(seen_lrs) == epochs * steps_per_epoch
    expected = [0.01 * (1 - e / epochs) for e in range(epochs) for _ in range(steps_per_epoch)]
    assert seen_lrs == pytest.approx(expected)
    assert result.losses[-1] < result.losses[0]
    assert not encoder.training
    g = torch.Generator().manual_seed(5)
    a, b = torch.randint(0, data.num_nodes, (2, edges), generator=g)

    def edge_auc(model):
        with torch.no_grad():
            h = model(data)
        pos = (h[data.edge_index[0]] * h[data.edge_index[1]]).sum(-1)
        neg = (h[a] * h[b]).sum(-1)
        return float((pos[:, None] > neg[None, :]).float().mean())

    torch.manual_seed(0)
    untrained = NodeEncoder(16, hidden=32, activation="leaky_relu").eval()
    assert edge_auc(encoder) > max(0.8, edge_auc(untrained) + 0.1)  # 0.86 vs 0.70


def test_pretrain_options_are_checked():
    data = _communities()
    encoder = NodeEncoder(30, hidden=8)
    with pytest.raises(ValueError, match="graphs: need at least 2"):
        pretrain(encoder, "infomax", [data], epochs=1)
    with pytest.raises(ValueError, match="graphs: need a graph"):
        pretrain(encoder, "edge_pred", [], epochs=1)
    with pytest.raises(ValueError, match="lr_decay"):
        pretrain(encoder, "edge_pred", [data], epochs=1, lr_decay="cosine")
    with pytest.raises(ValueError, match="edges_per_step"):
        pretrain(encoder, "infomax", [data, data], epochs=1, edges_per_step=10)
    with pytest.raises(ValueError, match="edges_per_step"):
        pretrain(encoder, "edge_pred", [data], epochs=1, edges_per_step=0)
