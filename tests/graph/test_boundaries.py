"""Issue 19 finding 8 for the graph methods: bad graph batches are named at our boundary.

Before the fix: an edge index past the node count failed in PyG (``dim_size`` on the molecule
GIN, an IndexError elsewhere), an atom index past the vocabulary in ``nn.Embedding``, labels out
of range in ``cross_entropy``; a molecule batch with extra feature columns, fractional class
labels and multilabel targets outside {0, 1, NaN} were taken silently.
"""

import pytest
import torch
from torch_geometric.data import Batch

import modalprompt as mp
from modalprompt.graph.backbones.molecule_gin import MoleculeGIN
from modalprompt.graph.backbones.node_encoders import NodeEncoder
from modalprompt.graph.synthetic import procedural_graphs, tiny_gnn

METHODS = ["gpf", "gpf_plus", "relief"]
BACKBONES = {
    "input_space": lambda: tiny_gnn(),
    "node_encoder": lambda: NodeEncoder(8, 16),
    "molecule_gin": lambda: MoleculeGIN(2, 16),
}


def _model(method, backbone="input_space", task_type="multilabel", num_outputs=2):
    config = mp.get_config(method, num_outputs=num_outputs, task_type=task_type)
    model = mp.get_prompt_model(BACKBONES[backbone](), config)
    return model.eval()


def _batch(backbone="input_space", task_type="multilabel", num_tasks=2):
    batch = Batch.from_data_list(procedural_graphs(4, num_tasks=num_tasks, task_type=task_type))
    if backbone == "molecule_gin":
        g = torch.Generator().manual_seed(0)
        batch.x = torch.randint(0, 3, (batch.num_nodes, 2), generator=g)
        batch.edge_attr = torch.randint(0, 3, (batch.edge_index.size(1), 2), generator=g)
    return batch


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("bad", [-1, 1000])
def test_edge_index_outside_the_nodes_is_named(method, backbone, bad):
    model, batch = _model(method, backbone), _batch(backbone)
    batch.edge_index[0, 0] = bad
    with pytest.raises(
        ValueError, match=rf"data.edge_index: node indices must lie in \[0, 38\).*{bad}"
    ):
        model(batch)


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_float_edge_index_is_named(backbone):
    model, batch = _model("gpf", backbone), _batch(backbone)
    batch.edge_index = batch.edge_index.float()
    with pytest.raises(TypeError, match=r"data.edge_index: expected integer node indices"):
        model(batch)


@pytest.mark.parametrize("backbone", ["input_space", "node_encoder"])
@pytest.mark.parametrize("method", METHODS)
def test_node_features_of_the_wrong_width_are_named(method, backbone):
    model, batch = _model(method, backbone), _batch(backbone)
    batch.x = torch.randn(batch.num_nodes, 5)
    with pytest.raises(ValueError, match=r"data.x: expected \(N, 8\) node features.*\(38, 5\)"):
        model(batch)


@pytest.mark.parametrize("method", METHODS)
def test_molecule_features_of_the_wrong_width_dtype_or_range_are_named(method):
    model, batch = _model(method, "molecule_gin"), _batch("molecule_gin")
    wide = batch.clone()
    wide.x = torch.cat([batch.x, batch.x[:, :1]], dim=1)
    with pytest.raises(ValueError, match=r"data.x: expected \(N, 2\) integer atom features.*3\)"):
        model(wide)
    floats = batch.clone()
    floats.x = batch.x.double()
    with pytest.raises(TypeError, match=r"data.x: expected \(N, 2\) integer atom.*float64"):
        model(floats)
    atoms = batch.clone()
    atoms.x = batch.x.clone()
    atoms.x[0, 0] = 500
    with pytest.raises(ValueError, match=r"data.x: column 0 .* \[0, 120\), found \[500\]"):
        model(atoms)
    bonds = batch.clone()
    bonds.edge_attr = batch.edge_attr.clone()
    bonds.edge_attr[0, 1] = 7
    with pytest.raises(ValueError, match=r"data.edge_attr: column 1 .* \[0, 3\), found \[7\]"):
        model(bonds)


@pytest.mark.parametrize("backbone", ["input_space", "node_encoder"])
@pytest.mark.parametrize("method", METHODS)
def test_float64_and_nan_node_features(method, backbone):
    model, batch = _model(method, backbone), _batch(backbone)
    doubled = batch.clone()
    doubled.x = batch.x.double()  # documented rule: cast to the GNN's float dtype
    with torch.no_grad():
        assert torch.equal(model(doubled), model(batch))
    batch.x[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"data.x: NaN or inf features at node\(s\) \[3\]"):
        model(batch)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("bad", [2.0, -1.0, 0.5])
def test_multilabel_targets_outside_0_1_nan_are_named(method, bad):
    model, batch = _model(method).train(), _batch()
    batch.y[0, 0] = bad
    with pytest.raises(ValueError, match=r"y: multilabel targets must be 0, 1 or NaN"):
        model.training_step(batch)
    with pytest.raises(ValueError, match=r"y: multilabel targets must be 0, 1 or NaN"):
        model.eval().validation_step(batch)


@pytest.mark.parametrize("method", METHODS)
def test_multiclass_labels_outside_the_classes_are_named(method):
    model = _model(method, task_type="multiclass", num_outputs=3).train()
    batch = _batch(task_type="multiclass")
    for bad, message in [(3, r"\[0, 3\).*\[3\]"), (-1, r"\[0, 3\).*\[-1\]"), (1.5, "whole")]:
        batch.y = torch.tensor([0, 1, bad, 1])
        with pytest.raises(ValueError, match=rf"y: class indices must .*{message}"):
            model.training_step(batch)
        with pytest.raises(ValueError, match=rf"y: class indices must .*{message}"):
            model.eval().validation_step(batch)
        model.train()


@pytest.mark.parametrize("method", ["gpf", "relief"])
def test_miscounted_labels_are_named_in_evaluation(method):
    model, batch = _model(method, num_outputs=1), _batch()  # 2 labels per graph, 1 output
    with pytest.raises(ValueError, match=r"y: expected 1 task label\(s\) per graph"):
        model.validation_step(batch)


def test_int32_edge_index_is_named():
    """Found by tests/fuzz: an int32 edge index passed our check and failed in PyG's scatter."""
    model, batch = _model("gpf"), _batch()
    batch.edge_index = batch.edge_index.int()
    with pytest.raises(
        TypeError, match=r"data.edge_index: .*torch.long \(int64\), got torch.int32"
    ):
        model(batch)


def test_graphclip_checks_features_edges_and_labels():
    """Found by tests/fuzz: GraphCLIP's encoder passed bad edges to PyG and labels to
    cross_entropy unchecked."""
    from modalprompt.core.testing import tiny_case

    case = tiny_case(mp.get_method_spec("graphclip"))
    model = mp.get_prompt_model(case.backbone, case.config)
    batch = case.batch
    bad = batch.clone()
    bad.edge_index = batch.edge_index.clone()
    bad.edge_index[0, 0] = 10_000
    with pytest.raises(ValueError, match=r"data.edge_index: node indices must lie in \[0, "):
        model.training_step(bad)
    bad = batch.clone()
    bad.y = torch.full_like(batch.y, 10_000)
    with pytest.raises(ValueError, match=r"y: class indices must lie in \[0, "):
        model.training_step(bad)
    doubled = batch.clone()
    doubled.x = batch.x.double()
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(doubled), model(batch))
