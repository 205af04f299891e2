"""RELIEF's evaluation in size-sorted batches: the same scores as one batch, fewer GNN passes."""

import pytest
import torch

pytest.importorskip("torch_geometric")
pytest.importorskip("stable_baselines3")
from torch_geometric.data import Batch  # noqa: E402

from modalprompt.graph.relief import evaluate_relief  # noqa: E402
from modalprompt.graph.relief.train import EVAL_BATCH_SIZE, fit_relief, size_sorted  # noqa: E402
from modalprompt.graph.synthetic import procedural_graphs  # noqa: E402
from tests.graph.relief.test_training import _model as relief_model  # noqa: E402


def _model(**overrides):
    """test_training's tiny RELIEF model, with room for 16 nodes and a short schedule."""
    short = dict(max_nodes=16, total_epochs=3, skip_epochs=1, head_epochs=1)
    return relief_model(**{**short, **overrides})


def _count_encoded_nodes(monkeypatch, model) -> list[int]:
    """Record the node count of every GNN pass of ``model``'s backbone."""
    counts: list[int] = []
    encode = model.backbone.encode

    def counting(x, data):
        counts.append(int(x.shape[0]))
        return encode(x, data)

    monkeypatch.setattr(model.backbone, "encode", counting)
    return counts


def test_size_sorted_is_a_stable_sort_by_node_count():
    graphs = procedural_graphs(20, min_nodes=3, max_nodes=9, seed=2)
    ordered = size_sorted(graphs)
    assert sorted(map(id, ordered)) == sorted(map(id, graphs))
    sizes = [int(g.num_nodes) for g in ordered]
    assert sizes == sorted(sizes) and sizes != [int(g.num_nodes) for g in graphs]
    for size in set(sizes):  # equal sizes keep their order
        same = [id(g) for g in graphs if int(g.num_nodes) == size]
        assert [id(g) for g in ordered if int(g.num_nodes) == size] == same


def test_sorted_batches_score_as_one_batch_with_fewer_gnn_node_passes(monkeypatch):
    graphs = procedural_graphs(24, min_nodes=3, max_nodes=16, seed=5)
    model = _model().eval()
    counts = _count_encoded_nodes(monkeypatch, model)
    model.config.eval_mode = "deterministic"
    whole = model.compute_metrics(model.validation_step(Batch.from_data_list(graphs)))
    one_batch_cost = sum(counts)
    counts.clear()
    model.config.eval_mode = "sample"
    metrics = evaluate_relief(model, graphs, batch_size=4, eval_mode="deterministic")
    assert model.config.eval_mode == "sample"  # the override is for the call only
    for key in ("roc_auc", "pcr", "apm"):
        assert metrics[key] == pytest.approx(whole[key], abs=1e-6)
    sorted_cost = sum(counts)
    # the cost is that of the size-sorted batches: a batch rolls out for its largest graph
    counts.clear()
    ordered = size_sorted(graphs)
    model.config.eval_mode = "deterministic"
    for start in range(0, len(ordered), 4):
        model.validation_step(Batch.from_data_list(ordered[start : start + 4]))
    assert sorted_cost == sum(counts)
    assert sorted_cost < 0.85 * one_batch_cost  # 3,406 vs 4,230 node passes


def test_evaluate_relief_sampled_mode_is_seeded_and_uses_the_config_mode():
    graphs = procedural_graphs(12, min_nodes=3, max_nodes=10, seed=1)
    model = _model()
    model.train()
    first = evaluate_relief(model, graphs, batch_size=5)
    assert not model.training  # left in eval mode
    assert evaluate_relief(model, graphs, batch_size=5) == first
    model.config.eval_mode = "deterministic"
    assert evaluate_relief(model, graphs, batch_size=5) == evaluate_relief(
        model, graphs, batch_size=5, eval_mode="deterministic"
    )


def test_fit_relief_validates_in_size_sorted_batches(monkeypatch):
    graphs = procedural_graphs(20, min_nodes=3, max_nodes=12, num_tasks=1, seed=4)
    train, val = graphs[:8], graphs[8:]
    model = _model()
    seen: list[list[int]] = []
    step = model.validation_step

    def recording(batch):
        seen.append(torch.bincount(batch.batch).tolist())
        return step(batch)

    monkeypatch.setattr(model, "validation_step", recording)
    history = fit_relief(model, train, val, eval_batch_size=5)
    evaluations = sum("val_roc_auc" in e for e in history.epochs)
    assert evaluations >= 2
    expected = sorted(int(g.num_nodes) for g in val)
    assert len(seen) == evaluations * 3 and all(len(b) <= 5 for b in seen)
    per_evaluation = [sum(seen[i : i + 3], []) for i in range(0, len(seen), 3)]
    assert all(sizes == expected for sizes in per_evaluation)


def test_fit_relief_default_eval_batch_size(monkeypatch):
    graphs = procedural_graphs(EVAL_BATCH_SIZE + 10, min_nodes=3, max_nodes=6, seed=4)
    model = _model(total_epochs=2, skip_epochs=2)
    seen: list[int] = []
    step = model.validation_step

    def recording(batch):
        seen.append(int(batch.num_graphs))
        return step(batch)

    monkeypatch.setattr(model, "validation_step", recording)
    fit_relief(model, graphs[:6], graphs[6:])
    assert seen and seen[:1] == [EVAL_BATCH_SIZE]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"graphs": []}, "graphs: nothing to evaluate (an empty sequence)"),
        ({"batch_size": 0}, "batch_size must be a positive int, got 0"),
        ({"batch_size": True}, "batch_size must be a positive int, got True"),
        (
            {"eval_mode": "argmax"},
            "eval_mode must be 'sample', 'deterministic' or None, got 'argmax'",
        ),
    ],
)
def test_evaluate_relief_refuses_bad_arguments(kwargs, message):
    model = _model()
    arguments = {"graphs": procedural_graphs(3), **kwargs}
    with pytest.raises(ValueError) as excinfo:
        evaluate_relief(model, **arguments)
    assert str(excinfo.value) == message


def test_evaluate_relief_refuses_non_finite_predictions_naming_data_positions(monkeypatch):
    graphs = procedural_graphs(9, min_nodes=3, max_nodes=8, seed=2)
    largest = max(int(g.num_nodes) for g in graphs)
    expected = [i for i, g in enumerate(graphs) if int(g.num_nodes) == largest]
    assert expected != list(range(len(expected)))  # the largest are not simply first
    model = _model()
    step = model.validation_step

    def nan_for_the_largest(batch):
        out = step(batch)
        sizes = torch.bincount(batch.batch)
        out["logits"] = torch.where((sizes == largest)[:, None], float("nan"), out["logits"])
        return out

    monkeypatch.setattr(model, "validation_step", nan_for_the_largest)
    with pytest.raises(ValueError) as excinfo:
        evaluate_relief(model, graphs, batch_size=4)
    assert str(excinfo.value) == (
        f"evaluation: {len(expected)} of 9 examples gave non-finite 'logits' outputs (examples "
        f"{expected} in data order); they would be scored as wrong answers. Check the "
        "evaluation data for NaN/inf"
    )


def test_gather_outputs_puts_rows_back_in_data_order():
    from modalprompt.core.evaluation import gather_outputs

    batches = [{"logits": torch.tensor([[2.0], [0.0]]), "labels": torch.tensor([2, 0])},
               {"logits": torch.tensor([[1.0]]), "labels": torch.tensor([1])}]  # fmt: skip
    outputs = gather_outputs(batches, order=[2, 0, 1])
    assert outputs["logits"].flatten().tolist() == [0.0, 1.0, 2.0]
    assert outputs["labels"].tolist() == [0, 1, 2]
    with pytest.raises(ValueError) as excinfo:
        gather_outputs(batches, order=[0, 1])
    assert str(excinfo.value) == "order: 2 positions for 3 rows of 'logits'"


@pytest.mark.parametrize("bad", [0, -3, True, 2.0])
def test_fit_relief_refuses_a_bad_eval_batch_size(bad):
    graphs = procedural_graphs(6)
    with pytest.raises(ValueError) as excinfo:
        fit_relief(_model(), graphs[:3], graphs[3:], eval_batch_size=bad)
    assert str(excinfo.value) == f"eval_batch_size must be a positive int or None, got {bad!r}"
