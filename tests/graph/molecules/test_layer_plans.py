"""Re-encoding a batch through the layer plans gives the layers' own result, and a plan is never
used where it could be stale or would cut a gradient."""

import copy
import pickle

import pytest
import torch

pytest.importorskip("torch_geometric")
pytest.importorskip("rdkit")
from torch_geometric.data import Batch  # noqa: E402

from modalprompt.graph.backbones import MoleculeGNN  # noqa: E402
from modalprompt.graph.datasets.molecules import smiles_to_graph  # noqa: E402

SMILES = ("CCO", "c1ccccc1N", "CC(=O)O.[Na+]", "C1CC1C(=O)N", "O=C(O)c1ccccc1O")


def batch() -> Batch:
    return Batch.from_data_list([smiles_to_graph(s) for s in SMILES])


def gnn(kind: str, seed: int = 0) -> MoleculeGNN:
    torch.manual_seed(seed)
    model = MoleculeGNN(num_layer=3, emb_dim=16, gnn_type=kind).eval()
    model.requires_grad_(False)
    with torch.no_grad():  # non-zero biases, so that the constant term matters
        for conv in model.gnns:
            for name, p in conv.named_parameters():
                if name.endswith("bias"):
                    p.normal_()
    return model


@pytest.mark.parametrize("kind", ["gin", "gcn", "graphsage"])
def test_second_encode_uses_the_plans_and_matches_the_layers(kind):
    model, data = gnn(kind), batch()
    x = model.embed_inputs(data)
    with torch.no_grad():
        plain = model.encode(x, data)
        assert model._plans._plans is None  # a one-off batch plans nothing
        planned = model.encode(x + 0.5, data)
        assert model._plans._plans is not None
        model._plans.clear()
        expected = model.encode(x + 0.5, data)  # the layers' own forward
    torch.testing.assert_close(planned, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(plain, planned)


def test_gat_has_no_plan():
    model, data = gnn("gat"), batch()
    x = model.embed_inputs(data)
    model.encode(x, data), model.encode(x, data)
    assert model._plans._plans is None


def test_prompt_gradients_through_the_plans_equal_the_layers():
    model, data = gnn("gcn"), batch()
    x = model.embed_inputs(data)
    grads = []
    for _ in range(3):  # the first call runs the layers, the later ones the plans
        prompt = torch.zeros(1, 16, requires_grad=True)
        (model.encode(x + prompt, data) ** 2).sum().backward()
        grads.append(prompt.grad)
    assert model._plans._plans is not None
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads[2], grads[0], rtol=1e-5, atol=1e-6)


def _layers_own(model, x, data):
    return copy.deepcopy(model).encode(x, data)  # a copy starts with no plan: the layers run


def _edit_weight(model, data):
    model.gnns[1].edge_embedding1.weight.add_(1.0)  # an optimiser step, in place
    return data


def _load_weights(model, data):
    model.load_state_dict(gnn("gcn", seed=1).state_dict())
    return data


def _edit_bond(model, data):
    data.edge_attr[0, 0] = 2  # a bond edited in place
    return data


def _other_batch(model, data):
    other = batch()  # the same molecules in another object, one bond different
    other.edge_attr[1, 0] = 2
    return other


def _new_bond_tensor(model, data):
    bonds = data.edge_attr.clone()  # same edges, a new bond tensor (at version 0, as the old)
    bonds[1, 0] = 2
    data.edge_attr = bonds.clone()
    return data


def _new_edge_tensor(model, data):
    edges = data.edge_index.clone()  # same bonds, a new edge tensor (at version 0)
    edges[1, 0] = 2
    data.edge_index = edges.clone()
    return data


@pytest.mark.parametrize(
    "change",
    [_edit_weight, _load_weights, _edit_bond, _other_batch, _new_bond_tensor, _new_edge_tensor],
)
def test_changed_weights_bonds_or_batches_are_never_served_stale(change):
    model, data = gnn("gcn"), batch()
    x = model.embed_inputs(data)
    with torch.no_grad():
        before = [model.encode(x, data), model.encode(x, data)]
        assert model._plans._plans is not None  # planned before the change
        data = change(model, data)
        after = model.encode(x, data)
        torch.testing.assert_close(after, _layers_own(model, x, data), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(after, before[1])


def test_trainable_layers_get_their_gradients_and_copies_start_empty():
    model, data = gnn("gin"), batch()
    model.requires_grad_(True)  # full fine-tuning: no plan may cut the layers' gradients
    x = model.embed_inputs(data).detach()
    for _ in range(2):
        model.zero_grad()
        model.encode(x, data).sum().backward()
    assert model._plans._plans is None
    assert model.gnns[0].edge_embedding1.weight.grad.abs().sum() > 0
    frozen = gnn("gin")
    with torch.no_grad():
        frozen.encode(x, data), frozen.encode(x, data)
    assert frozen._plans._plans is not None
    assert copy.deepcopy(frozen)._plans._plans is None
    restored = pickle.loads(pickle.dumps(frozen))  # torch.save(module), worker processes
    assert restored._plans._plans is None
    with torch.no_grad():
        torch.testing.assert_close(restored.encode(x, data), frozen.encode(x, data))


def test_row_cache_still_serves_unchanged_rows_through_the_plans():
    from modalprompt.graph.relief.row_cache import RowCachedLinears

    model, data = gnn("gcn"), batch()
    x = model.embed_inputs(data).detach()
    cache = RowCachedLinears(model)
    with torch.no_grad():
        for _ in range(2):
            with cache.active():
                model.encode(x, data)
        assert model._plans._plans is not None
        cache.rows_computed = cache.rows_seen = 0
        prompted = x.clone()
        prompted[0] += 1.0  # one atom of the first molecule prompted
        with cache.active():
            out = model.encode(prompted, data)
    assert 0 < cache.rows_computed < cache.rows_seen / 2
    torch.testing.assert_close(out, _layers_own(model, prompted, data), rtol=1e-5, atol=1e-5)


def test_no_plan_under_autocast():
    model, data = gnn("gcn"), batch()
    x = model.embed_inputs(data).detach()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        model.encode(x, data), model.encode(x, data)
    assert model._plans._plans is None
