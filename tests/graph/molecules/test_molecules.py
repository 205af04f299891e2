import math

import pytest
import torch

pytest.importorskip("torch_geometric")
pytest.importorskip("rdkit")
from torch_geometric.data import Batch  # noqa: E402

import modalprompt as mp  # noqa: E402
from modalprompt.graph.backbones import MoleculeGIN, load_pretrain_gnns_checkpoint  # noqa: E402
from modalprompt.graph.datasets.molecules import (  # noqa: E402
    load_moleculenet_csv,
    scaffold_split,
    smiles_to_graph,
)


def test_featurisation_matches_pretrain_gnns():
    g = smiles_to_graph("C[C@H](N)C(=O)O")  # L-alanine
    assert g.x.tolist()[0] == [5, 0] and g.x[2].tolist() == [6, 0]  # C -> 5, N -> 6
    assert g.x[1, 1].item() in (1, 2)  # a tetrahedral chirality tag
    assert g.edge_index.shape == (2, 10) and g.edge_attr.shape == (10, 2)
    double = [a.tolist() for a in g.edge_attr if a[0] == 1]
    assert len(double) == 2  # C=O, both directions
    aromatic = smiles_to_graph("c1ccccc1")
    assert set(aromatic.edge_attr[:, 0].tolist()) == {3}
    assert smiles_to_graph("not a molecule") is None and smiles_to_graph("*C") is None
    single_atom = smiles_to_graph("[Na+]")
    assert single_atom.edge_index.shape == (2, 0) and single_atom.edge_attr.shape == (0, 2)


def test_largest_fragment_keeps_the_organic_ion_with_its_features():
    salt = "Cl.C[C@H](N)C(=O)O.[Na+]"  # the largest fragment is not the first
    whole, kept = smiles_to_graph(salt), smiles_to_graph(salt, largest_fragment=True)
    alanine = smiles_to_graph("C[C@H](N)C(=O)O")
    assert whole.num_nodes == 8 and kept.num_nodes == 6
    assert torch.equal(kept.x, alanine.x)  # atom types and the chirality tag survive
    assert torch.equal(kept.edge_index, alanine.edge_index)
    assert torch.equal(kept.edge_attr, alanine.edge_attr)
    ties = smiles_to_graph("CO.CN", largest_fragment=True)  # equal sizes: the first one
    assert ties.x[:, 0].tolist() == [5, 7]
    single = smiles_to_graph("CCO", largest_fragment=True)
    assert torch.equal(single.x, smiles_to_graph("CCO").x)
    lone = smiles_to_graph("[Na+].[Cl-]", largest_fragment=True)
    assert lone.x[:, 0].tolist() == [10] and lone.edge_index.shape == (2, 0)


def test_moleculenet_csv_largest_fragment_keeps_smiles_and_labels(tmp_path):
    path = tmp_path / "salts.csv"
    path.write_text("smiles,active\nCC(=O)[O-].[Na+],1\nc1ccccc1,0\n")
    whole = load_moleculenet_csv(path)
    kept = load_moleculenet_csv(path, largest_fragment=True)
    assert kept.smiles == whole.smiles == ["CC(=O)[O-].[Na+]", "c1ccccc1"]
    assert [g.num_nodes for g in whole.graphs] == [5, 6]
    assert [g.num_nodes for g in kept.graphs] == [4, 6]
    assert [g.y.tolist() for g in kept.graphs] == [[[1.0]], [[0.0]]]


def test_scaffold_split_is_deterministic_and_groups_scaffolds():
    smiles = ["c1ccccc1C", "c1ccccc1CC", "c1ccccc1O", "C1CCCCC1C", "C1CCCCC1N", "CCO", "CCN", "CCC"]
    train, valid, test = scaffold_split(smiles, (0.5, 0.25, 0.25))
    assert sorted(train + valid + test) == list(range(8))
    # sets sorted by (size, first index), largest first: the acyclic set (3, first 5) beats
    # benzene (3, first 0), as in pretrain-gnns; then benzene no longer fits train
    assert (train, valid, test) == ([5, 6, 7], [0, 1, 2], [3, 4])
    assert (train, valid, test) == scaffold_split(smiles, (0.5, 0.25, 0.25))


def test_moleculenet_csv_on_real_files(shared_data):
    bbbp = load_moleculenet_csv(shared_data / "graph" / "moleculenet" / "bbbp.csv")
    assert len(bbbp) + bbbp.skipped == 2039 and bbbp.tasks == ["p_np"] and bbbp.max_nodes == 132
    train, valid, test = scaffold_split(bbbp.smiles)
    assert (len(train), len(valid), len(test)) == (1631, 204, 204)
    tox = load_moleculenet_csv(shared_data / "graph" / "moleculenet" / "tox21.csv", limit=50)
    assert len(tox.tasks) == 12 and any(
        math.isnan(v) for g in tox.graphs for v in g.y.flatten().tolist()
    )
    hiv = load_moleculenet_csv(shared_data / "graph" / "moleculenet" / "hiv.csv.gz", limit=20)
    assert len(hiv) == 20


def test_bad_csvs_are_explained(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("smiles,task\nnot_a_smiles,1\n")
    with pytest.raises(ValueError, match="no molecule could be parsed"):
        load_moleculenet_csv(bad)
    with pytest.raises(ValueError, match="smiles_column"):
        load_moleculenet_csv(bad, smiles_column="mol")


def test_official_checkpoint_names_load(tmp_path):
    source = MoleculeGIN(num_layer=2, emb_dim=16)
    names = set(source.state_dict())
    assert {
        "x_embedding1.weight",
        "gnns.0.mlp.0.weight",
        "gnns.1.edge_embedding2.weight",
        "batch_norms.1.running_var",
    } <= names
    torch.save(source.state_dict(), tmp_path / "contextpred.pth")  # what pretrain-gnns writes
    target = MoleculeGIN(num_layer=2, emb_dim=16)
    load_pretrain_gnns_checkpoint(target, tmp_path / "contextpred.pth")
    batch = Batch.from_data_list([smiles_to_graph("CCO"), smiles_to_graph("c1ccccc1")])
    torch.testing.assert_close(target.eval()(batch), source.eval()(batch))
    graphpred = {f"gnn.{k}": v for k, v in source.state_dict().items()} | {
        "graph_pred_linear.weight": torch.zeros(1)
    }
    load_pretrain_gnns_checkpoint(MoleculeGIN(num_layer=2, emb_dim=16), graphpred)
    with pytest.raises(ValueError, match="does not fit"):
        load_pretrain_gnns_checkpoint(MoleculeGIN(num_layer=3, emb_dim=16), source.state_dict())


def test_gpf_and_relief_prompt_the_atom_embedding_space():
    graphs = [smiles_to_graph(s) for s in ("CCO", "c1ccccc1", "CC(=O)O", "CCN")]
    for g, y in zip(graphs, (0.0, 1.0, 0.0, 1.0)):
        g.y = torch.tensor([[y]])
    batch = Batch.from_data_list(graphs)
    gin = MoleculeGIN(num_layer=2, emb_dim=16)
    gpf = mp.get_prompt_model(gin, mp.get_config("gpf", num_outputs=1))
    assert gpf.global_prompt.shape == (1, 16)
    mp.check_prompt_model(gpf, batch)
    relief = mp.get_prompt_model(
        MoleculeGIN(num_layer=2, emb_dim=16),
        mp.get_config("relief", num_outputs=1, max_nodes=8, ensemble_size=1),
    )
    assert relief.eval()(batch).shape == (4, 1)
