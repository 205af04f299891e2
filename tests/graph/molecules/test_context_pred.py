"""Context Prediction (Hu et al.): substructure/context extraction on a hand-made graph, the
negative sampling, the context GNN, and a loss that falls in a few steps at the paper's radii."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("torch_geometric")
pytest.importorskip("rdkit")
from torch_geometric.data import Data  # noqa: E402

from modalprompt.graph.backbones import MoleculeGIN, MoleculeGNN  # noqa: E402
from modalprompt.graph.datasets.context_pairs import (  # noqa: E402
    collate_context_pairs,
    context_pair,
)
from modalprompt.graph.datasets.molecules import smiles_to_graph  # noqa: E402
from modalprompt.graph.pretrain import _ContextPred, pretrain  # noqa: E402


def _chain_with_branch() -> Data:
    """Atoms 0-1-2-3-4-5-6-7-8 in a chain and 9 on atom 2; bond u-v has type (u + v) % 4, so
    every bond can be recognised after relabelling. Atom i has type i."""
    bonds = [(i, i + 1) for i in range(8)] + [(2, 9)]
    edge_index = torch.tensor([[u, v] for u, v in bonds] + [[v, u] for u, v in bonds]).T
    types = [(u + v) % 4 for u, v in bonds] * 2
    edge_attr = torch.tensor([[t, 0] for t in types])
    x = torch.stack([torch.arange(10), torch.zeros(10, dtype=torch.long)], dim=1)
    return Data(x=x, edge_index=edge_index, edge_attr=edge_attr)


def _bonds(sub: Data) -> set[tuple[int, int, int]]:
    """The subgraph's bonds in molecule numbering, with their type."""
    ids = sub.node_ids
    return {
        (int(ids[u]), int(ids[v]), int(t))
        for (u, v), t in zip(sub.edge_index.T.tolist(), sub.edge_attr[:, 0])
    }


def test_paper_radii_on_a_hand_made_graph():
    g = _chain_with_branch()
    pair = context_pair(g, root=0)  # k = 5, r1 = 4, r2 = 7
    # hop distances from 0: atom i -> i for the chain, atom 9 -> 3
    assert pair.substruct.node_ids.tolist() == [0, 1, 2, 3, 4, 5, 9]  # d <= 5
    assert pair.center == 0
    assert pair.substruct.x[:, 0].tolist() == [0, 1, 2, 3, 4, 5, 9]
    assert _bonds(pair.substruct) == {
        (u, v, (u + v) % 4) for a, b in [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (2, 9)]
        for u, v in [(a, b), (b, a)]
    }  # fmt: skip
    assert pair.context.node_ids.tolist() == [5, 6, 7]  # 4 < d <= 7; atom 8 (d = 8) left out
    assert _bonds(pair.context) == {(5, 6, 3), (6, 5, 3), (6, 7, 1), (7, 6, 1)}
    assert pair.anchors.tolist() == [0]  # atom 5: in both (4 < d <= 5)


def test_other_roots_and_radii():
    g = _chain_with_branch()
    assert context_pair(g, root=4) is None  # every atom within 4 hops: no context
    pair = context_pair(g, root=2, k=2, r1=1, r2=3)
    # distances from 2: 1, 3, 9 -> 1; 0, 4 -> 2; 5 -> 3
    assert pair.substruct.node_ids.tolist() == [0, 1, 2, 3, 4, 9]
    assert pair.center == 2
    assert pair.context.node_ids.tolist() == [0, 4, 5]
    assert pair.anchors.tolist() == [0, 1]  # atoms 0 and 4 (d = 2)
    assert _bonds(pair.context) == {(4, 5, 1), (5, 4, 1)}  # 0 has no bond inside the ring
    with pytest.raises(ValueError, match="r1 < k"):
        context_pair(g, root=0, k=3, r1=3, r2=6)
    with pytest.raises(ValueError, match="root"):
        context_pair(g, root=10)


def test_collate_offsets_centres_and_anchors():
    g = _chain_with_branch()
    pairs = [context_pair(g, 0), context_pair(g, 2, k=2, r1=1, r2=3), context_pair(g, 8)]
    batch = collate_context_pairs(pairs)
    assert batch.num_pairs == 3
    roots = batch.substruct.node_ids[batch.center].tolist()
    assert roots == [0, 2, 8]
    anchors = batch.context.node_ids[batch.anchors].tolist()
    assert anchors == [5, 0, 4, 3]  # root 8: ring 1, 2, 3, 9; only 3 within 5 hops
    assert batch.anchor_pair.tolist() == [0, 1, 1, 2]
    assert batch.context.batch[batch.anchors].tolist() == batch.anchor_pair.tolist()


def test_loss_uses_each_substructures_own_and_the_next_contexts():
    torch.manual_seed(0)
    gnn = MoleculeGNN(num_layer=2, emb_dim=8, gnn_type="gcn")
    task = _ContextPred(gnn, radii=(1, 3), negatives=2).eval()
    assert (task.context_gnn.gnn_type, task.context_gnn.num_layer) == ("gcn", 2)
    g = _chain_with_branch()
    pairs = [context_pair(g, r, 2, 1, 3) for r in (0, 2, 5, 8)]
    batch = collate_context_pairs(pairs)
    with torch.no_grad():
        loss = task(batch, torch.Generator())
        sub = gnn(batch.substruct)[batch.center]
        h = task.context_gnn(batch.context)
        ctx = torch.stack([h[batch.anchors[batch.anchor_pair == b]].mean(0) for b in range(4)])
    logits_pos = (sub * ctx).sum(-1)
    logits_neg = torch.cat([(sub * ctx[[(b + s) % 4 for b in range(4)]]).sum(-1) for s in (1, 2)])
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = bce(logits_pos, torch.ones(4)) + 2 * bce(logits_neg, torch.zeros(8))
    torch.testing.assert_close(loss, expected)


def _long_molecules(count: int = 32) -> list[Data]:
    """Chains of 12-18 atoms with varied ends: every root has atoms beyond 4 hops (a context)."""
    heads = ["O", "N", "Cl", "OC(=O)", "c1ccccc1", "FC(F)(F)", "CO", "S"]
    tails = ["O", "N", "Cl", "C(=O)O", "c1ccccc1", "C(F)(F)F", "OC", "S"]
    smiles = [f"{heads[i % 8]}{'C' * (10 + i % 5)}{tails[(3 * i + 1) % 8]}" for i in range(count)]
    return [smiles_to_graph(s) for s in smiles]


@pytest.mark.parametrize("gnn_type", ["gin", "gcn", "gat", "graphsage"])
def test_a_few_steps_on_one_batch_lower_the_loss(gnn_type):
    torch.manual_seed(0)
    task = _ContextPred(MoleculeGNN(num_layer=5, emb_dim=32, gnn_type=gnn_type))
    assert (task.k, task.r1, task.r2, task.negatives) == (5, 4, 7, 1)  # the paper's defaults
    assert (task.context_gnn.gnn_type, task.context_gnn.num_layer) == (gnn_type, 3)
    generator = torch.Generator().manual_seed(0)
    batch = task.collate(_long_molecules(), generator)
    assert batch.num_pairs == 32
    optimizer = torch.optim.Adam(task.parameters(), lr=1e-3)
    losses = []
    for _ in range(15):
        loss = task(batch, generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], losses


@pytest.mark.parametrize("gnn_type", ["gin", "gcn"])
def test_pretrain_api_at_the_paper_radii(gnn_type, tmp_path):
    gnn = MoleculeGNN(num_layer=5, emb_dim=32, gnn_type=gnn_type)
    result = pretrain(
        gnn, "context_pred", _long_molecules(), epochs=30, batch_size=32, lr=1e-3,
        output=tmp_path / "cp.safetensors",
    )  # fmt: skip
    # a new random root per molecule and epoch makes single epochs noisy: compare five with five
    first, last = sum(result.losses[:5]) / 5, sum(result.losses[-5:]) / 5
    assert last < 0.85 * first, result.losses
    settings = json.loads((tmp_path / "cp.json").read_text())
    assert (settings["context_radii"], settings["gnn_type"]) == ([4, 7], gnn_type)
    assert settings["strategy"] == "context_pred"


def test_bad_arguments():
    molecules = _long_molecules(4)
    with pytest.raises(ValueError, match="context_radii, negative_samples: only for"):
        pretrain(
            MoleculeGIN(num_layer=2, emb_dim=8), "attr_masking", molecules, context_radii=(1, 3)
        )
    with pytest.raises(ValueError, match="context_radii: expected"):
        pretrain(
            MoleculeGIN(num_layer=3, emb_dim=8), "context_pred", molecules, context_radii=(3, 6)
        )
    with pytest.raises(ValueError, match="context_radii: expected"):
        pretrain(
            MoleculeGIN(num_layer=3, emb_dim=8), "context_pred", molecules, context_radii=(2, 3)
        )
    with pytest.raises(ValueError, match="negative_samples"):
        pretrain(MoleculeGIN(num_layer=2, emb_dim=8), "context_pred", molecules, negative_samples=0)
    with pytest.raises(ValueError, match="jk='concat'"):
        pretrain(MoleculeGIN(num_layer=2, emb_dim=8, jk="concat"), "context_pred", molecules)
    with pytest.raises(TypeError, match="MoleculeGIN"):
        pretrain(torch.nn.Linear(2, 2), "context_pred", molecules)
