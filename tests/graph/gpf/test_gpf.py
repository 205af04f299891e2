import pytest
import torch

pytest.importorskip("torch_geometric")
from torch_geometric.data import Batch  # noqa: E402

import modalprompt as mp  # noqa: E402
from modalprompt.graph.synthetic import procedural_graphs, tiny_gnn  # noqa: E402


def test_gpf_adds_one_vector_and_gpf_plus_mixes_a_basis_per_node():
    batch = Batch.from_data_list(procedural_graphs(3))
    gpf = mp.get_prompt_model(tiny_gnn(), mp.get_config("gpf", num_outputs=1))
    x = gpf.backbone.embed_inputs(batch)
    prompt = gpf.prompt(x)
    assert prompt.shape == x.shape and torch.equal(prompt[0], prompt[-1])
    plus = mp.get_prompt_model(tiny_gnn(), mp.get_config("gpf_plus", num_outputs=1, num_basis=4))
    weights = torch.softmax(plus.attention(x), -1)
    torch.testing.assert_close(plus.prompt(x), weights @ plus.basis)
    assert not torch.allclose(plus.prompt(x)[0], plus.prompt(x)[1])
    assert plus.num_parameters(True) == 4 * 8 + (8 * 4 + 4) + (16 + 1)


def test_prompt_tuning_fits_a_shifted_task_the_frozen_head_alone_cannot_reach():
    graphs = procedural_graphs(32, seed=5, task_type="multiclass")
    model = mp.get_prompt_model(
        tiny_gnn(),
        mp.get_config("gpf_plus", task_type="multiclass", num_outputs=2, head_dropout=0.0),
    )
    args = mp.TrainingArguments(
        max_epochs=30, batch_size=16, lr=1e-2, verbose=False, tensorboard=False, eval_strategy="no"
    )
    from torch_geometric.data import Batch as B

    trainer = mp.Trainer(model, args, train_data=graphs, collate_fn=B.from_data_list)
    trainer.fit()
    model.eval()
    batch = Batch.from_data_list(graphs)
    assert (model(batch).argmax(-1) == batch.y).float().mean() > 0.9


def test_wrong_backbone_and_labels_are_explained():
    with pytest.raises(TypeError, match="embed_inputs"):
        mp.get_prompt_model(torch.nn.Linear(2, 2), mp.get_config("gpf"))
    model = mp.get_prompt_model(tiny_gnn(), mp.get_config("gpf", num_outputs=3))
    with pytest.raises(ValueError, match="check num_outputs"):
        model.training_step(Batch.from_data_list(procedural_graphs(2, num_tasks=2)))


def test_empty_graphs_and_wrong_feature_width_are_refused_by_name():
    from torch_geometric.data import Data

    graphs = procedural_graphs(2, num_tasks=1)
    width = graphs[0].x.size(1)
    empty = Data(x=torch.zeros(0, width), edge_index=torch.zeros(2, 0, dtype=torch.long))
    empty.y = graphs[0].y
    no_edges = Data(x=graphs[0].x[:3], edge_index=torch.zeros(2, 0, dtype=torch.long))
    no_edges.y = graphs[0].y
    model = mp.get_prompt_model(tiny_gnn(), mp.get_config("gpf_plus", num_outputs=1)).eval()
    assert model(Batch.from_data_list([graphs[1], no_edges])).shape == (2, 1)  # edgeless is fine
    with pytest.raises(
        ValueError, match=r"graph\(s\) \[1\] of the batch have zero nodes; gpf_plus "
    ):
        model(Batch.from_data_list([graphs[1], empty]))
    wide = Data(x=torch.zeros(3, width + 1), edge_index=torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="data.x"):
        model(Batch.from_data_list([wide]))


def test_forward_adds_the_prompt_reads_the_configured_head_and_task_type():
    """The output equals the frozen GNN on ``embedding + prompt`` through the head, written out
    by hand; head depth and task type come from the config."""
    batch = Batch.from_data_list(procedural_graphs(3, num_tasks=2, task_type="multiclass"))
    config = mp.get_config(
        "gpf", num_outputs=2, task_type="multiclass", head_layers=2, head_dropout=0.0
    )
    model = mp.get_prompt_model(tiny_gnn(), config).eval()
    depth = sum(isinstance(m, torch.nn.Linear) for m in model.head.modules())
    assert depth == 2
    with torch.no_grad():
        model.global_prompt.normal_()
        x = model.backbone.embed_inputs(batch)
        h = model.backbone.encode(x + model.global_prompt, batch)
        expected = model.head(h, batch.batch, int(batch.num_graphs))
        torch.testing.assert_close(model(batch), expected)
    metrics = model.compute_metrics(model.validation_step(batch))
    assert set(metrics) == {"accuracy", "macro_f1"}


def test_multilabel_metrics_are_roc_auc():
    batch = Batch.from_data_list(procedural_graphs(6, num_tasks=2, seed=3))
    model = mp.get_prompt_model(tiny_gnn(), mp.get_config("gpf", num_outputs=2)).eval()
    assert model.config.task_type == "multilabel"
    assert set(model.compute_metrics(model.validation_step(batch))) == {"roc_auc"}
