"""Bad input to GraphCLIP gets a ValueError that names the problem."""

import pytest
import torch
from torch_geometric.data import Data

from modalprompt.graph.graphclip.data import subgraph_pairs
from modalprompt.graph.graphclip.encoder import GraphClipEncoder
from modalprompt.graph.graphclip.text import CachedTextEmbedder, HashingTextEncoder
from modalprompt.graph.graphclip.zeroshot import class_embeddings, prompt_tune, zero_shot_predict
from modalprompt.graph.tag import TextAttributedGraph, procedural_tag


@pytest.fixture
def embed():
    return CachedTextEmbedder(HashingTextEncoder(dim=16))


def _data(n=3):
    return Data(
        edge_index=torch.tensor([[0, 1], [1, 2]]), y=torch.zeros(n, dtype=torch.long), num_nodes=n
    )


@pytest.mark.parametrize("bad", ["", "   ", None])
def test_node_without_text_is_named(bad):
    with pytest.raises(ValueError, match=r"texts: 1 node\(s\) without text .*node ids \[1\]"):
        TextAttributedGraph(_data(), ["a", bad, "c"], ["x"])


def test_empty_class_names(embed):
    with pytest.raises(ValueError, match="class_names: empty"):
        TextAttributedGraph(_data(), ["a", "b", "c"], [])
    with pytest.raises(ValueError, match="class_names: empty"):
        class_embeddings([], embed)
    with pytest.raises(ValueError, match="empty name"):
        class_embeddings(["x", " "], embed)
    with pytest.raises(ValueError, match="expected a list of class names"):
        class_embeddings("theory", embed)


def test_class_without_description_is_named(embed):
    with pytest.raises(ValueError, match=r"no description for class\(es\) \['y'\]"):
        class_embeddings(["x", "y"], embed, descriptions={"x": "about x"})
    with pytest.raises(ValueError, match=r"no description for class\(es\) \['y'\]"):
        class_embeddings(["x", "y"], embed, descriptions={"x": "about x", "y": ""})
    with pytest.raises(ValueError, match=r"no description for class\(es\) \['x'\]"):
        TextAttributedGraph(_data(), ["a", "b", "c"], ["x"], {"x": None})
    # descriptions omitted entirely is fine: prompts are template + name
    ok = class_embeddings(["x", "y"], embed, template="topic {}")
    assert ok.shape == (2, 16)
    with_desc = class_embeddings(["x", "y"], embed, "topic {}", {"x": "a", "y": "b"})
    assert not torch.allclose(ok, with_desc)


def test_tag_with_own_descriptions_rejects_extra_ones(embed):
    tag = procedural_tag(2, 4)
    assert class_embeddings(tag, embed).shape == (2, 16)
    with pytest.raises(ValueError, match="brings its own class_descriptions"):
        class_embeddings(tag, embed, descriptions={"t0": "x"})


def test_empty_class_embeddings_and_bad_labels(embed):
    tag = procedural_tag(2, 6)
    graphs, _ = subgraph_pairs(tag, embed, torch.arange(4), summariser=None, max_nodes=4)
    enc = GraphClipEncoder(16, hidden=8, out_dim=16, num_layers=1, heads=2)
    with pytest.raises(ValueError, match="an empty class list"):
        zero_shot_predict(enc, graphs, torch.zeros(0, 16))
    with pytest.raises(ValueError, match="an empty class list"):
        prompt_tune(enc, graphs, torch.zeros(0, 16), epochs=1)
    with pytest.raises(ValueError, match="at least one labelled subgraph"):
        prompt_tune(enc, [], torch.randn(2, 16), epochs=1)
    graphs[1].y = torch.tensor([5])
    with pytest.raises(ValueError, match=r"label outside \[0, 2\)"):
        prompt_tune(enc, graphs, torch.randn(2, 16), epochs=1)


def test_empty_summary_and_bad_targets(embed):
    tag = procedural_tag(2, 6)
    with pytest.raises(ValueError, match="summariser: returned an empty summary"):
        subgraph_pairs(tag, embed, torch.arange(2), summariser=lambda texts: " ")
    with pytest.raises(ValueError, match=r"targets: node ids must be in \[0, 12\)"):
        subgraph_pairs(tag, embed, torch.tensor([0, 12]))


def test_subgraph_pairs_embeds_only_used_nodes():
    calls = []

    class Spy(HashingTextEncoder):
        def encode(self, texts):
            calls.append(len(texts))
            return super().encode(texts)

    tag = procedural_tag(3, 30)
    embed = CachedTextEmbedder(Spy(dim=16))
    graphs, _ = subgraph_pairs(tag, embed, torch.tensor([0]), summariser=None, max_nodes=4)
    assert sum(calls) <= 4 and graphs[0].num_nodes == sum(calls)
    full = CachedTextEmbedder(HashingTextEncoder(dim=16))(tag.texts)
    for g_ in graphs:  # features are the right rows even though only a few nodes were embedded
        assert torch.allclose(g_.x[0], full[0])
