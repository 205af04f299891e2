"""The graph heads' standardisation of the pooled embedding: the arithmetic by hand, fitted once
from every training graph by the Trainer (not on resume, not over a fitted head), by RELIEF from
the unprompted graphs, saved and loaded with the model."""

import pytest
import torch

pytest.importorskip("torch_geometric")
from torch_geometric.data import Batch  # noqa: E402

import modalprompt as mp  # noqa: E402
from modalprompt.graph.readout import ProjectionHead  # noqa: E402
from modalprompt.graph.synthetic import procedural_graphs, tiny_gnn  # noqa: E402


def pooled_by_hand(h: torch.Tensor, batch: torch.Tensor, graphs: int) -> torch.Tensor:
    return torch.stack([h[batch == g].mean(0) for g in range(graphs)])


def test_fitted_head_standardises_each_feature_with_the_training_statistics():
    torch.manual_seed(0)
    head = ProjectionHead(4, 2, layers=1, standardize=True)
    train = torch.randn(10, 4) * torch.tensor([1.0, 100.0, 0.01, 3.0]) + 5.0
    train[:, 3] = 7.0  # constant over the training graphs: centred, not scaled
    head.fit_standardization(train)
    mean = train.double().mean(0)
    std = ((train.double() - mean) ** 2).mean(0).sqrt()  # population std
    torch.testing.assert_close(head.feature_mean, mean.float())
    torch.testing.assert_close(head.feature_std[:3], std[:3].float())
    assert head.feature_std[3] == 1.0
    h, batch = torch.randn(7, 4) * 50, torch.tensor([0, 0, 0, 1, 1, 2, 2])
    expected_in = (pooled_by_hand(h, batch, 3) - mean.float()) / torch.cat(
        [std[:3].float(), torch.ones(1)]
    )
    head.eval()
    torch.testing.assert_close(head(h, batch, 3), head.mlp(expected_in))


def test_unfitted_head_fits_on_its_first_training_batch_and_passes_through_in_eval():
    torch.manual_seed(0)
    head = ProjectionHead(3, 1, standardize=True)
    h, batch = torch.randn(6, 3) * 10 + 4, torch.tensor([0, 0, 1, 1, 2, 2])
    pooled = pooled_by_hand(h, batch, 3)
    head.eval()
    torch.testing.assert_close(head(h, batch, 3), head.mlp(pooled))  # unfitted: as it is
    assert head.needs_fit
    head.train()
    head(h, batch, 3)  # ActNorm-style: fitted on the first training batch
    assert not head.needs_fit
    torch.testing.assert_close(head.feature_mean, pooled.mean(0))
    head(h * 3, batch, 3)  # and held fixed afterwards
    torch.testing.assert_close(head.feature_mean, pooled.mean(0))
    plain = ProjectionHead(3, 1)
    assert not plain.needs_fit and "feature_mean" not in plain.state_dict()


def test_standardisation_errors_name_the_argument():
    head = ProjectionHead(3, 1, standardize=True)
    with pytest.raises(ValueError, match=r"pooled: expected \(G >= 1, 3\).*\(4, 2\)"):
        head.fit_standardization(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="pooled: .*NaN"):
        head.fit_standardization(torch.tensor([[0.0, float("nan"), 1.0]]))
    with pytest.raises(ValueError, match="standardize=False"):
        ProjectionHead(3, 1).fit_standardization(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="batches: no training batch"):
        head.fit_from_batches(lambda data: data.x, [])


def _trainer(model, graphs, tmp_path=None, **kw):
    args = mp.TrainingArguments(
        batch_size=4,
        eval_batch_size=3,  # the statistics batches differ from the training batches
        lr=1e-2,
        verbose=False,
        tensorboard=False,
        eval_strategy="no",
        output_dir=str(tmp_path) if tmp_path else None,
        **kw,
    )
    return mp.Trainer(model, args, train_data=graphs, collate_fn=Batch.from_data_list)


def _pooled(model, graphs):
    batch = Batch.from_data_list(graphs)
    with torch.no_grad():
        h = model.prompted_embeddings(batch)
    return pooled_by_hand(h, batch.batch, len(graphs)).double()


@pytest.mark.parametrize("method", ["gpf", "gpf_plus"])
def test_trainer_fits_the_head_on_every_training_graph_before_the_first_step(method):
    graphs = procedural_graphs(10, seed=2)
    model = mp.get_prompt_model(tiny_gnn(), mp.get_config(method, num_outputs=1))
    assert model.config.head_standardize and model.head.needs_fit
    expected = _pooled(model, graphs)  # what the head sees before training
    _trainer(model, graphs, max_steps=3).fit()
    torch.testing.assert_close(model.head.feature_mean, expected.mean(0).float())
    torch.testing.assert_close(model.head.feature_std, expected.std(0, unbiased=False).float())
    # a fitted head keeps its statistics in a later run on other graphs (its weights fit them)
    fitted = model.head.feature_mean.clone()
    _trainer(model, procedural_graphs(6, seed=9), max_steps=1).fit()
    torch.testing.assert_close(model.head.feature_mean, fitted)


def test_head_standardize_false_is_the_plain_head():
    config = mp.get_config("gpf", num_outputs=1, head_standardize=False)
    model = mp.get_prompt_model(tiny_gnn(), config)
    assert not model.head.standardize and "head.feature_mean" not in model.prompt_state_dict()
    with pytest.raises(mp.ConfigError, match="head_standardize"):
        mp.get_config("gpf", head_standardize="yes")


def test_statistics_are_saved_loaded_and_restored_on_resume(tmp_path):
    graphs = procedural_graphs(10, seed=2)
    model = mp.get_prompt_model(tiny_gnn(), mp.get_config("gpf", num_outputs=1))
    _trainer(model, graphs, tmp_path / "run", max_steps=4, save_every=2, save_total_limit=5).fit()
    model.save_pretrained(tmp_path / "saved")
    loaded = mp.PromptModel.from_pretrained(tiny_gnn(), tmp_path / "saved").eval()
    assert not loaded.head.needs_fit  # the loaded head standardises in eval mode at once
    batch = Batch.from_data_list(graphs)
    torch.testing.assert_close(loaded(batch), model.eval()(batch))
    # resume from step 2 into a model whose head has other statistics: the checkpoint's win
    resumed = mp.get_prompt_model(tiny_gnn(), mp.get_config("gpf", num_outputs=1))
    resumed.head.fit_standardization(torch.randn(5, 16) * 9)
    _trainer(resumed, graphs, tmp_path / "run", max_steps=4, save_every=2, save_total_limit=5).fit(
        resume_from=tmp_path / "run" / "checkpoint-2"
    )
    torch.testing.assert_close(resumed.head.feature_mean, model.head.feature_mean)
    torch.testing.assert_close(resumed.eval()(batch), model(batch))


def test_relief_fits_its_head_on_the_unprompted_training_graphs():
    from modalprompt.graph.relief import fit_relief

    graphs = procedural_graphs(6, seed=4)
    config = mp.get_config(
        "relief", num_outputs=1, max_nodes=12, total_epochs=1, skip_epochs=0, update_epochs=1
    )
    model = mp.get_prompt_model(tiny_gnn(), config)
    batch = Batch.from_data_list(graphs)
    with torch.no_grad():
        h = model.backbone.encode(model.backbone.embed_inputs(batch), batch)
    expected = pooled_by_hand(h, batch.batch, len(graphs)).double()
    fit_relief(model, graphs, graphs, eval_batch_size=4)
    torch.testing.assert_close(model.head.feature_mean, expected.mean(0).float())
    torch.testing.assert_close(model.head.feature_std, expected.std(0, unbiased=False).float())
