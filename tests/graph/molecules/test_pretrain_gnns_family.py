"""Hu et al.'s GCN, GAT and GraphSAGE molecule GNNs: the official checkpoints load from the file
alone and compute what the official layers compute; wrong files are refused with reasons."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

pytest.importorskip("torch_geometric")
pytest.importorskip("rdkit")
from torch_geometric.data import Batch  # noqa: E402

import modalprompt as mp  # noqa: E402
from modalprompt.graph.backbones import (  # noqa: E402
    MoleculeGNN,
    from_pretrain_gnns,
    load_pretrain_gnns_checkpoint,
)
from modalprompt.graph.datasets.molecules import (  # noqa: E402
    load_moleculenet_csv,
    smiles_to_graph,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
# (file, GNN type, tensors) as ../shared/MODELS.md lists them
FILES = [
    ("gcn_contextpred.pth", "gcn", 47),
    ("gat_contextpred.pth", "gat", 57),
    ("graphsage_contextpred.pth", "graphsage", 47),
    ("gcn_supervised_contextpred.pth", "gcn", 47),
    ("gcn_supervised.pth", "gcn", 47),
]


def _models_dir() -> Path | None:
    """``../shared/models/pretrain-gnns/chem`` beside ``$MODALPROMPT_SHARED_DATA`` or the repo."""
    roots = [REPO_ROOT.parent / "shared"]
    if os.environ.get("MODALPROMPT_SHARED_DATA"):
        roots.insert(0, Path(os.environ["MODALPROMPT_SHARED_DATA"]).parent)
    for root in roots:
        folder = root / "models" / "pretrain-gnns" / "chem"
        if folder.is_dir():
            return folder
    return None


@pytest.fixture(scope="module")
def chem() -> Path:
    folder = _models_dir()
    if folder is None:
        pytest.skip("../shared/models/pretrain-gnns/chem is absent (the official checkpoints)")
    return folder


@pytest.fixture(scope="module")
def bbbp_batch(chem) -> Batch:
    """Ten BBBP molecules featurised by our loader (a real, varied molecule batch)."""
    csv = chem.parents[2] / "data" / "graph" / "moleculenet" / "bbbp.csv"
    if not csv.is_file():
        pytest.skip("../shared/data/graph/moleculenet/bbbp.csv is absent")
    return Batch.from_data_list(load_moleculenet_csv(csv, limit=10).graphs)


# --- the official layers, re-written in plain torch from chem/model.py (PyG 1.0 semantics:
# --- atom i = edge_index[0] gathers from j = edge_index[1], aggregated at edge_index[0])


def _loops(n, edge_index, edge_attr):
    loops = torch.arange(n)
    index = torch.cat([edge_index, torch.stack([loops, loops])], dim=1)
    attr = torch.cat([edge_attr, torch.tensor([[4, 0]]).repeat(n, 1)], dim=0)
    return index, attr


def _bond(state, layer, attr):
    return (
        state[f"gnns.{layer}.edge_embedding1.weight"][attr[:, 0]]
        + state[f"gnns.{layer}.edge_embedding2.weight"][attr[:, 1]]
    )


def _sum_at(values, index, n):
    return torch.zeros((n,) + values.shape[1:]).index_add_(0, index, values)


def official_layer(kind, state, layer, x, edge_index, edge_attr):
    n = x.size(0)
    edge_index, edge_attr = _loops(n, edge_index, edge_attr)
    i, j = edge_index
    e = _bond(state, layer, edge_attr)
    w = lambda name: state[f"gnns.{layer}.{name}"]  # noqa: E731
    if kind == "gcn":
        h = x @ w("linear.weight").T + w("linear.bias")
        deg = _sum_at(torch.ones(i.numel()), i, n)
        norm = deg.pow(-0.5)[i] * deg.pow(-0.5)[j]
        return _sum_at(norm[:, None] * (h[j] + e), i, n)
    if kind == "graphsage":
        h = x @ w("linear.weight").T + w("linear.bias")
        mean = _sum_at(h[j] + e, i, n) / _sum_at(torch.ones(i.numel()), i, n)[:, None]
        return mean / mean.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    assert kind == "gat"
    heads, d = w("att").shape[1], x.size(1)
    h = (x @ w("weight_linear.weight").T + w("weight_linear.bias")).view(n, heads, d)
    m = h[j] + e.view(-1, heads, d)
    score = torch.nn.functional.leaky_relu((torch.cat([h[i], m], -1) * w("att")).sum(-1), 0.2)
    # softmax over each atom's incoming edges (shifted by that atom's largest score)
    top = torch.full((n, heads), -torch.inf).scatter_reduce(
        0, i[:, None].expand(-1, heads), score, "amax"
    )
    score = (score - top[i]).exp()
    alpha = score / _sum_at(score, i, n)[i]
    return _sum_at(m * alpha[..., None], i, n).mean(dim=1) + w("bias")


def official_gnn(kind, state, data, num_layer):
    """The official ``GNN.forward`` (JK last, eval mode: BatchNorm on running statistics)."""
    h = state["x_embedding1.weight"][data.x[:, 0]] + state["x_embedding2.weight"][data.x[:, 1]]
    for layer in range(num_layer):
        z = official_layer(kind, state, layer, h, data.edge_index, data.edge_attr)
        mean, var, weight, bias = (
            state[f"batch_norms.{layer}.{name}"]
            for name in ("running_mean", "running_var", "weight", "bias")
        )
        h = (z - mean) / (var + 1e-5).sqrt() * weight + bias
        if layer < num_layer - 1:
            h = h.relu()
    return h


@pytest.mark.parametrize("name,kind,tensors", FILES)
def test_each_official_file_builds_and_loads_from_the_file_alone(chem, name, kind, tensors):
    state = torch.load(chem / name, weights_only=True, map_location="cpu")
    assert len(state) == tensors
    gnn = from_pretrain_gnns(chem / name)
    assert (gnn.gnn_type, gnn.num_layer, gnn.emb_dim) == (kind, 5, 300)
    assert not gnn.training
    own = gnn.state_dict()
    assert list(own) == list(state)  # same names in the same order: none missing or unexpected
    assert all(torch.equal(own[k], state[k]) for k in state)
    assert (gnn.prompt_dim, gnn.out_dim) == (300, 300)


@pytest.mark.parametrize("name,kind", [(f, k) for f, k, _ in FILES[:3]])
def test_layers_match_the_official_layers_on_real_molecules(chem, bbbp_batch, name, kind):
    state = torch.load(chem / name, weights_only=True, map_location="cpu")
    gnn = from_pretrain_gnns(chem / name)
    b = bbbp_batch
    with torch.no_grad():
        h = gnn.embed_inputs(b)
        ours = gnn.gnns[0](h, b.edge_index, b.edge_attr)
        expected = official_layer(kind, state, 0, h, b.edge_index, b.edge_attr)
        torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)
        # and the whole 5-layer network, also when the batch is encoded again (layer plans)
        expected = official_gnn(kind, state, b, 5)
        torch.testing.assert_close(gnn(b), expected, rtol=1e-3, atol=1e-3)
        torch.testing.assert_close(gnn(b), expected, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("name", [f for f, _, _ in FILES])
def test_first_layer_outputs_match_the_checkpoints_batchnorm_statistics(chem, bbbp_batch, name):
    """Independent of any re-implementation: the official BatchNorm after layer 0 saw outputs
    whose per-channel means our layer reproduces on real molecules."""
    gnn = from_pretrain_gnns(chem / name)
    b = bbbp_batch
    with torch.no_grad():
        z = gnn.gnns[0](gnn.embed_inputs(b), b.edge_index, b.edge_attr)
    corr = torch.corrcoef(torch.stack([z.mean(0), gnn.batch_norms[0].running_mean]))[0, 1]
    assert corr > 0.98, corr


def test_other_type_or_width_names_the_first_mismatching_key(chem):
    gat = chem / "gat_contextpred.pth"
    with pytest.raises(ValueError, match=r"first mismatching key gnns\.0\.linear\.weight: "):
        load_pretrain_gnns_checkpoint(MoleculeGNN(gnn_type="gcn"), gat)
    with pytest.raises(ValueError, match=r"gnns\.0\.weight_linear\.weight"):  # unexpected keys
        from_pretrain_gnns(gat, gnn_type="graphsage")
    narrow = MoleculeGNN(emb_dim=64, gnn_type="gcn")
    with pytest.raises(
        ValueError, match=r"x_embedding1\.weight: checkpoint \(120, 300\) vs model \(120, 64\)"
    ):
        load_pretrain_gnns_checkpoint(narrow, chem / "gcn_contextpred.pth")
    shallow = MoleculeGNN(num_layer=3, gnn_type="gcn")
    with pytest.raises(ValueError, match=r"unexpected \['batch_norms\.3\."):
        load_pretrain_gnns_checkpoint(shallow, chem / "gcn_contextpred.pth")
    # GCN and GraphSAGE have the same names and shapes: their BatchNorm statistics tell them apart
    with pytest.raises(ValueError, match="say 'graphsage', not 'gcn'"):
        from_pretrain_gnns(chem / "graphsage_contextpred.pth", gnn_type="gcn")
    with pytest.raises(ValueError, match="say 'gcn', not 'graphsage'"):
        load_pretrain_gnns_checkpoint(
            MoleculeGNN(gnn_type="graphsage"), chem / "gcn_contextpred.pth"
        )


class _Trap:
    """Unpickling this would create ``marker``: a stand-in for code a pickle can run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("zipped", [True, False])
def test_files_needing_full_unpickling_are_refused(tmp_path, zipped):
    marker = tmp_path / "code_ran"
    path = tmp_path / "legacy.pth"
    torch.save({"x_embedding1.weight": _Trap(marker)}, path, _use_new_zipfile_serialization=zipped)
    with pytest.raises(ValueError, match="source: .*legacy.pth needs full unpickling.*refused"):
        from_pretrain_gnns(path)
    assert not marker.exists()
    whole = tmp_path / "module.pth"
    torch.save(MoleculeGNN(num_layer=2, emb_dim=8, gnn_type="gcn"), whole)  # a pickled module
    with pytest.raises(ValueError, match="needs full unpickling"):
        from_pretrain_gnns(whole)
    listed = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], listed)
    with pytest.raises(ValueError, match="not a state dict"):
        from_pretrain_gnns(listed)
    with pytest.raises(FileNotFoundError, match="source"):
        from_pretrain_gnns(tmp_path / "absent.pth")


@pytest.mark.parametrize("kind", ["gin", "gcn", "gat", "graphsage"])
def test_small_states_of_every_type_round_trip(tmp_path, kind):
    torch.manual_seed(0)
    source = MoleculeGNN(num_layer=3, emb_dim=16, gnn_type=kind, jk="concat")
    batch = Batch.from_data_list([smiles_to_graph(s) for s in ("CCO", "c1ccccc1O", "CC(=O)N")])
    source.train()(batch)  # trained BatchNorm statistics
    path = tmp_path / f"{kind}.pth"
    torch.save({f"gnn.{k}": v for k, v in source.state_dict().items()}, path)
    loaded = from_pretrain_gnns(path, jk="concat")
    assert (loaded.gnn_type, loaded.num_layer, loaded.emb_dim) == (kind, 3, 16)
    assert loaded.out_dim == 4 * 16
    torch.testing.assert_close(loaded(batch), source.eval()(batch))


def test_untrained_gcn_or_graphsage_needs_gnn_type():
    state = MoleculeGNN(num_layer=2, emb_dim=8, gnn_type="graphsage").state_dict()
    with pytest.raises(ValueError, match="gnn_type: .*pass gnn_type='gcn' or 'graphsage'"):
        from_pretrain_gnns(state)
    assert from_pretrain_gnns(state, gnn_type="graphsage").gnn_type == "graphsage"
    with pytest.raises(ValueError, match="gnn_type: expected one of"):
        from_pretrain_gnns(state, gnn_type="gine")
    with pytest.raises(ValueError, match="x_embedding1"):
        from_pretrain_gnns({"w": torch.zeros(2)})
    with pytest.raises(ValueError, match="gnn_type"):
        MoleculeGNN(gnn_type="transformer")


def test_smiles_rdkit_rejects_are_counted_and_skipped(tmp_path):
    csv = tmp_path / "mols.csv"
    csv.write_text("smiles,p_np\nCCO,1\nC1CC,0\nnot a molecule,1\nc1ccccc1N,0\n")
    ds = load_moleculenet_csv(csv)
    assert (len(ds), ds.skipped) == (2, 2)
    assert ds.smiles == ["CCO", "c1ccccc1N"]
    gnn = MoleculeGNN(num_layer=2, emb_dim=8, gnn_type="gat").eval()
    assert gnn(Batch.from_data_list(ds.graphs)).shape == (3 + 7, 8)


@pytest.mark.parametrize("kind", ["gcn", "gat", "graphsage"])
@pytest.mark.parametrize("method", ["gpf", "gpf_plus", "relief"])
def test_prompt_methods_run_on_every_type(kind, method):
    graphs = [smiles_to_graph(s) for s in ("CCO", "c1ccccc1", "CC(=O)O", "CCN")]
    for g, y in zip(graphs, (0.0, 1.0, 0.0, 1.0)):
        g.y = torch.tensor([[y]])
    batch = Batch.from_data_list(graphs)
    gnn = MoleculeGNN(num_layer=2, emb_dim=16, gnn_type=kind).eval()
    extra = {"max_nodes": 8, "ensemble_size": 1} if method == "relief" else {}
    model = mp.get_prompt_model(gnn, mp.get_config(method, num_outputs=1, **extra))
    if method == "relief":
        assert model.eval()(batch).shape == (4, 1)
    else:
        mp.check_prompt_model(model, batch)


def test_gpf_plus_on_the_official_gcn(chem, bbbp_batch):
    gnn = from_pretrain_gnns(chem / "gcn_contextpred.pth")
    model = mp.get_prompt_model(gnn, mp.get_config("gpf_plus", num_outputs=1))
    before = {k: v.clone() for k, v in gnn.state_dict().items()}
    batch = bbbp_batch.clone()
    batch.y = torch.zeros(batch.num_graphs, 1)
    mp.check_prompt_model(model, batch)
    assert all(torch.equal(before[k], v) for k, v in gnn.state_dict().items())  # stays frozen
