import pytest
import torch

pytest.importorskip("torch_geometric")
pytest.importorskip("rdkit")
from torch_geometric.data import Batch  # noqa: E402

from modalprompt.graph.backbones import MoleculeGIN, load_pretrain_gnns_checkpoint  # noqa: E402
from modalprompt.graph.datasets.molecules import smiles_to_graph  # noqa: E402
from modalprompt.graph.pretrain import STRATEGIES, pretrain  # noqa: E402

SMILES = [
    "CCO",
    "c1ccccc1",
    "CC(=O)O",
    "CCN",
    "C1CCCCC1",
    "CC(C)O",
    "c1ccncc1",
    "CCCl",
    "OCCO",
    "CC#N",
    "C=CC=C",
    "CS(=O)C",
    "c1ccoc1",
    "CC(=O)N",
    "NCCN",
    "CCOC(=O)C",
]


@pytest.fixture(scope="module")
def molecules():
    return [smiles_to_graph(s) for s in SMILES]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_strategy_lowers_its_loss_and_saves_a_loadable_checkpoint(
    strategy, molecules, tmp_path
):
    gin = MoleculeGIN(num_layer=2, emb_dim=32)
    result = pretrain(
        gin,
        strategy,
        molecules,
        epochs=12,
        batch_size=8,
        lr=3e-3,
        output=tmp_path / f"{strategy}.safetensors",
    )
    assert result.losses[-1] < result.losses[0] * 0.9, result.losses
    fresh = MoleculeGIN(num_layer=2, emb_dim=32)
    load_pretrain_gnns_checkpoint(fresh, result.checkpoint)
    batch = Batch.from_data_list(molecules[:4])
    torch.testing.assert_close(fresh.eval()(batch), gin.eval()(batch))
    assert (tmp_path / f"{strategy}.json").is_file()


def test_bad_arguments(molecules):
    with pytest.raises(ValueError, match="strategy"):
        pretrain(MoleculeGIN(num_layer=2, emb_dim=8), "magic", molecules)
    with pytest.raises(TypeError, match="MoleculeGIN"):
        pretrain(torch.nn.Linear(2, 2), "attr_masking", molecules)
    with pytest.raises(TypeError, match="out_dim"):
        pretrain(torch.nn.Linear(2, 2), "infomax", molecules)
    with pytest.raises(ValueError, match=r"^epochs: expected an int >= 1, got 0"):
        pretrain(MoleculeGIN(num_layer=2, emb_dim=8), "attr_masking", molecules, epochs=0)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_labels_of_several_datasets_mix_and_are_never_read(strategy, molecules):
    """Molecules of BBBP (1 task) and Tox21 (12 tasks) pre-train together; labels change nothing
    and the caller's graphs keep theirs."""
    labelled = [g.clone() for g in molecules]
    for i, g in enumerate(labelled):
        g.y = torch.full((1, 1 if i % 2 else 12), float(i))
    runs = []
    for graphs in (labelled, molecules):
        torch.manual_seed(0)
        gin = MoleculeGIN(num_layer=2, emb_dim=16)
        runs.append(pretrain(gin, strategy, graphs, epochs=2, batch_size=8).losses)
    assert runs[0] == runs[1]
    assert [g.y.shape[1] for g in labelled[:2]] == [12, 1]


def test_graphs_whose_fields_cannot_batch_are_named(molecules):
    odd = molecules[3].clone()
    odd.edge_attr = odd.edge_attr[:, :1]
    with pytest.raises(ValueError, match=r"graphs\[2\]: .*\['edge_attr'\] differ"):
        pretrain(MoleculeGIN(num_layer=2, emb_dim=8), "attr_masking", [*molecules[:2], odd])
