"""GraphCLIP's prompt model against a hand-written reference (issue 22): the logits are the
cosine between the prompted graph embedding and each class text over the temperature, the
prompt is added to every node's input features (zero at the start, so step 0 is zero-shot),
and the loss is cross-entropy over those logits."""

import pytest
import torch
from torch.nn import functional as F
from torch_geometric.data import Batch

from modalprompt.graph.graphclip.config import GraphClipConfig
from modalprompt.graph.graphclip.data import subgraph_pairs
from modalprompt.graph.graphclip.encoder import GraphClipEncoder
from modalprompt.graph.graphclip.model import GraphClipModel
from modalprompt.graph.graphclip.text import CachedTextEmbedder, HashingTextEncoder
from modalprompt.graph.tag import procedural_tag


def _model(temperature=0.05):
    embed = CachedTextEmbedder(HashingTextEncoder(dim=32, seed=0))
    graphs, _ = subgraph_pairs(procedural_tag(3, 8, seed=1), embed, summariser=None, max_nodes=6)
    torch.manual_seed(0)
    encoder = GraphClipEncoder(32, hidden=16, out_dim=24, num_layers=1, heads=2).eval()
    model = GraphClipModel(encoder, GraphClipConfig(num_classes=3, temperature=temperature))
    model.set_class_embeddings(torch.randn(3, 24, generator=torch.Generator().manual_seed(3)))
    return model.eval(), Batch.from_data_list(graphs[:5])


def _reference_logits(model, batch, prompt):
    """``cos(normalize(encode(x + p)), t_c) / tau`` written out with the encoder's own parts."""
    x = model.backbone.embed_inputs(batch) + prompt
    g = model.backbone.encode(x, batch)
    g = g / g.norm(dim=-1, keepdim=True)
    t = model.class_embeddings / model.class_embeddings.norm(dim=-1, keepdim=True)
    return g @ t.t() / model.config.temperature


def test_a_fresh_prompt_gives_the_zero_shot_logits():
    model, batch = _model()
    assert torch.count_nonzero(model.prompt) == 0
    with torch.no_grad():
        plain = F.normalize(model.backbone(batch), dim=-1)
        expected = plain @ model.class_embeddings.t() / model.config.temperature
        torch.testing.assert_close(model(batch), expected)


@pytest.mark.parametrize("temperature", [0.01, 0.5])
def test_logits_are_cosines_of_the_prompted_embedding_over_the_temperature(temperature):
    model, batch = _model(temperature)
    with torch.no_grad():
        model.prompt.copy_(torch.linspace(-1, 1, model.prompt.numel()).view_as(model.prompt))
        logits = model(batch)
        torch.testing.assert_close(logits, _reference_logits(model, batch, model.prompt))
        assert float(logits.abs().max()) <= 1 / temperature + 1e-4  # cosines in [-1, 1]
        different = _reference_logits(model, batch, -model.prompt)
        assert not torch.allclose(logits, different)  # the sign of the prompt matters


def test_loss_is_cross_entropy_of_those_logits_and_reaches_only_the_prompt():
    model, batch = _model()
    batch.y = torch.tensor([0, 2, 1, 1, 0])
    model.train()
    loss = model.training_step(batch)["loss"]
    with torch.no_grad():
        expected = F.cross_entropy(_reference_logits(model, batch, model.prompt), batch.y)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert model.prompt.grad is not None and torch.count_nonzero(model.prompt.grad) > 0
    assert all(p.grad is None for p in model.backbone.parameters())
    outputs = model.validation_step(batch)
    pred = outputs["logits"].argmax(-1)
    assert model.compute_metrics(outputs)["accuracy"] == pytest.approx(
        float((pred == batch.y).float().mean())
    )


def test_unset_class_embeddings_are_seeded_unit_rows():
    encoder = GraphClipEncoder(32, hidden=16, out_dim=24, num_layers=1, heads=2)
    a = GraphClipModel(encoder, GraphClipConfig(num_classes=4, seed=1)).class_embeddings
    b = GraphClipModel(encoder, GraphClipConfig(num_classes=4, seed=1)).class_embeddings
    c = GraphClipModel(encoder, GraphClipConfig(num_classes=4, seed=2)).class_embeddings
    assert a.shape == (4, 24) and torch.equal(a, b) and not torch.equal(a, c)
    torch.testing.assert_close(a.norm(dim=-1), torch.ones(4))


def test_a_batch_without_labels_is_named():
    model, batch = _model()
    del batch.y
    with pytest.raises(TypeError, match=r"^y: expected a tensor of class indices, got None"):
        model.training_step(batch)


def test_flag_step_is_checked_and_reaches_the_adversarial_step(monkeypatch):
    from modalprompt.graph.graphclip import pretrain as pretrain_module

    embed = CachedTextEmbedder(HashingTextEncoder(dim=24, seed=0))
    sources = [subgraph_pairs(procedural_tag(3, 6, seed=2), embed, max_nodes=5)]
    encoder = GraphClipEncoder(24, hidden=16, out_dim=24, num_layers=1, heads=2)
    for bad in (0, -1e-3, True, "1e-2", float("nan"), float("inf")):
        with pytest.raises(ValueError, match="flag_step: expected None or a finite number > 0"):
            pretrain_module.pretrain_graphclip(encoder, sources, epochs=1, flag_step=bad)
    seen = []
    original = pretrain_module.adversarial_step

    def spy(*args, **kwargs):
        seen.append((kwargs["step_size"], kwargs["init"]))
        return original(*args, **kwargs)

    monkeypatch.setattr(pretrain_module, "adversarial_step", spy)
    result = pretrain_module.pretrain_graphclip(
        encoder, sources, epochs=1, batch_size=8, flag_step=3e-3
    )
    assert seen and set(seen) == {(3e-3, 3e-3)}
    assert result.flag_step == 3e-3


def test_default_flag_step_is_the_official_step_at_the_features_scale(monkeypatch):
    """Unit-norm 24-d features have RMS 1/sqrt(24): the default step is 1e-2 * that / 0.181
    (the official features' RMS), what every adversarial step receives and the result says."""
    from modalprompt.graph.graphclip import pretrain as pretrain_module

    embed = CachedTextEmbedder(HashingTextEncoder(dim=24, seed=0))
    sources = [subgraph_pairs(procedural_tag(3, 6, seed=2), embed, max_nodes=5)]
    expected = 1e-2 * (1 / 24**0.5) / 0.181
    assert pretrain_module.scaled_flag_step([g.x for g in sources[0][0]]) == pytest.approx(
        expected, rel=1e-5
    )
    raw = torch.full((4, 24), 0.181)  # the official features' scale: the official step
    assert pretrain_module.scaled_flag_step(raw) == pytest.approx(1e-2, rel=1e-6)
    assert pretrain_module.scaled_flag_step(2 * raw) == pytest.approx(2e-2, rel=1e-6)
    for bad in (torch.zeros(3, 4), torch.full((2, 2), float("nan")), []):
        with pytest.raises(ValueError, match="pass flag_step explicitly"):
            pretrain_module.scaled_flag_step(bad)
    seen = []
    original = pretrain_module.adversarial_step

    def spy(*args, **kwargs):
        seen.append(kwargs["step_size"])
        return original(*args, **kwargs)

    monkeypatch.setattr(pretrain_module, "adversarial_step", spy)
    encoder = GraphClipEncoder(24, hidden=16, out_dim=24, num_layers=1, heads=2)
    result = pretrain_module.pretrain_graphclip(encoder, sources, epochs=1, batch_size=8)
    assert seen and all(s == pytest.approx(expected, rel=1e-5) for s in seen)
    assert result.flag_step == pytest.approx(expected, rel=1e-5)


def test_resuming_with_another_flag_step_is_refused_by_name(tmp_path):
    from modalprompt.graph.graphclip.pretrain import pretrain_graphclip

    embed = CachedTextEmbedder(HashingTextEncoder(dim=24, seed=0))
    sources = [subgraph_pairs(procedural_tag(3, 6, seed=2), embed, max_nodes=5)]

    def run(**settings):
        torch.manual_seed(0)
        encoder = GraphClipEncoder(24, hidden=16, out_dim=24, num_layers=1, heads=2)
        return pretrain_graphclip(
            encoder, sources, epochs=1, batch_size=8, run_dir=tmp_path, **settings
        )

    run(flag_step=1e-3)
    with pytest.raises(ValueError, match=r"flag_step=0\.001, this run has flag_step=0\.002"):
        run(resume_from="latest", flag_step=2e-3)
    with pytest.raises(ValueError, match=r"invariant=True, this run has invariant=False"):
        run(resume_from="latest", flag_step=1e-3, invariant=False)
    result = run(resume_from="latest", flag_step=1e-3)
    assert len(result.losses) == 1  # the finished run, read back


def test_the_prompt_is_one_vector_per_input_feature_and_bad_inputs_are_named():
    """One learnable value per node-feature coordinate, saved as ``(1, d_in)``; a wrong class
    count names the count found (rows, not the width), and a label count that is not one per
    graph is our error naming ``y``, never a deep cross-entropy traceback."""
    model, batch = _model()
    assert tuple(model.prompt.shape) == (1, 32)
    assert tuple(model.prompt_state_dict()["prompt"].shape) == (1, 32)
    with pytest.raises(ValueError, match=r"expected 3 classes, got 5$"):
        model.set_class_embeddings(torch.randn(5, 24))
    batch.y = torch.tensor([0, 1, 2])  # 5 graphs, 3 labels
    with pytest.raises(ValueError, match=r"^y: expected 5 labels \(one per example\), got 3"):
        model.training_step(batch)
