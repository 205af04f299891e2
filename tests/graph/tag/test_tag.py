import json

import pytest
import torch
from torch_geometric.data import Data

from modalprompt.graph.tag import (
    CachedSummariser,
    TextAttributedGraph,
    default_summary,
    procedural_tag,
    rwr_subgraphs,
)
from modalprompt.graph.tag.loaders import load_tag_cora, load_tag_csv, load_tag_json


def test_bad_input_named():
    data = Data(edge_index=torch.zeros(2, 0, dtype=torch.long), y=torch.tensor([0, 1]), num_nodes=2)
    with pytest.raises(ValueError, match="without text"):
        TextAttributedGraph(data, ["a", " "], ["x", "y"])
    with pytest.raises(ValueError, match="class_names: empty"):
        TextAttributedGraph(data, ["a", "b"], [])
    with pytest.raises(ValueError, match=r"no description for class\(es\) \['y'\]"):
        TextAttributedGraph(data, ["a", "b"], ["x", "y"], {"x": "d"})


def test_procedural_tag_is_homophilous_and_topical():
    tag = procedural_tag(num_classes=3, nodes_per_class=20, seed=1)
    src, dst = tag.data.edge_index
    assert (tag.data.y[src] == tag.data.y[dst]).float().mean() > 0.7
    assert all(f"t{int(c)}w" in t for t, c in zip(tag.texts, tag.data.y))
    assert procedural_tag(seed=1).texts == procedural_tag(seed=1).texts


def test_rwr_subgraphs_are_connected_walks_with_limits():
    tag = procedural_tag(num_classes=2, nodes_per_class=15, seed=0)
    ei = tag.data.edge_index
    edges = set(map(tuple, ei.t().tolist()))
    targets = torch.arange(10)
    subs = rwr_subgraphs(ei, tag.num_nodes, targets, max_nodes=6, generator=torch.Generator())
    for t, (nodes, local, c) in zip(targets.tolist(), subs):
        assert c == 0 and int(nodes[0]) == t and nodes.numel() <= 6
        assert len(set(nodes.tolist())) == nodes.numel()
        for a, b in local.t().tolist():  # every local edge is a real edge
            assert (int(nodes[a]), int(nodes[b])) in edges


def test_rwr_isolated_node_falls_back_and_stays_alone():
    ei = torch.tensor([[0, 1], [1, 0]])
    subs = rwr_subgraphs(ei, 3, torch.tensor([2, 0]), walk_steps=8)
    assert subs[0][0].tolist() == [2] and subs[0][1].shape == (2, 0)
    assert sorted(subs[1][0].tolist()) == [0, 1]


def test_summary_cache_is_content_keyed_and_persistent(tmp_path):
    calls = []

    def summ(texts):
        calls.append(texts)
        return default_summary(texts)

    s = CachedSummariser(summ, tmp_path, name="t")
    a = s(["centre", "b c", "c"])
    assert a == "Centre node: centre. Its 2 neighbours mention: c b."
    assert s(["centre", "b c", "c"]) == a and len(calls) == 1
    s2 = CachedSummariser(summ, tmp_path, name="t")
    assert s2(["centre", "b c", "c"]) == a and len(calls) == 1  # read from disk
    s2(["other"])
    assert len(calls) == 2 and len(list(tmp_path.glob("*.json"))) == 2


def test_csv_loader(tmp_path):
    (tmp_path / "n.csv").write_text("text,label\nhello,a\nworld,b\nthird,\n")
    (tmp_path / "e.csv").write_text("source,target\n0,1\n1,2\n")
    tag = load_tag_csv(tmp_path / "n.csv", tmp_path / "e.csv")
    assert tag.class_names == ["a", "b"] and tag.data.y.tolist() == [0, 1, -1]
    assert tag.data.edge_index.size(1) == 4
    (tmp_path / "bad.csv").write_text("text,label\n,a\n")
    with pytest.raises(ValueError, match="without text"):
        load_tag_csv(tmp_path / "bad.csv", tmp_path / "e.csv")


def test_csv_loader_edge_outside_graph(tmp_path):
    (tmp_path / "n.csv").write_text("text,label\nhello,a\nworld,b\n")
    (tmp_path / "e.csv").write_text("source,target\n0,1\n1,7\n")
    with pytest.raises(ValueError, match=r"e.csv: 1 edge\(s\) name a node id outside \[0, 2\)"):
        load_tag_csv(tmp_path / "n.csv", tmp_path / "e.csv")


def test_json_loader(tmp_path):
    obj = {
        "nodes": [
            {"text": "graph neural nets", "label": "ml"},
            {"text": "tax law", "label": "law"},
            {"text": "unlabelled paper", "label": None},
        ],
        "edges": [[0, 1], [1, 2], [2, 1]],
        "class_names": ["ml", "law"],
        "class_descriptions": {"ml": "machine learning", "law": "legal studies"},
    }
    path = tmp_path / "tag.json"
    path.write_text(json.dumps(obj))
    tag = load_tag_json(path)
    assert tag.texts[1] == "tax law" and tag.data.y.tolist() == [0, 1, -1]
    assert tag.class_names == ["ml", "law"]
    assert tag.data.edge_index.size(1) == 4  # undirected, duplicates merged
    assert tag.class_texts("about {}")[1] == "about law which refers to legal studies"

    def broken(**change):
        bad = {**obj, **change}
        path.write_text(json.dumps(bad))
        return path

    with pytest.raises(ValueError, match=r"without text .*node ids \[1\]"):
        load_tag_json(broken(nodes=[{"text": "a", "label": "ml"}, {"label": "law"}]))
    with pytest.raises(ValueError, match=r"no description for class\(es\) \['law'\]"):
        load_tag_json(broken(class_descriptions={"ml": "machine learning"}))
    with pytest.raises(ValueError, match="class_names: empty"):
        load_tag_json(broken(nodes=[{"text": "a"}], edges=[], class_names=[]))
    with pytest.raises(ValueError, match=r"labels \['bio'\] are not in class_names"):
        load_tag_json(broken(nodes=[{"text": "a", "label": "bio"}], edges=[]))
    with pytest.raises(ValueError, match=r"edges\[0\] = \[0\] is not a \[source, target\]"):
        load_tag_json(broken(edges=[[0]]))
    with pytest.raises(ValueError, match="outside"):
        load_tag_json(broken(edges=[[0, 3]]))
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="'nodes' list"):
        load_tag_json(path)


def test_real_cora(shared_data):
    tag = load_tag_cora(shared_data / "graph" / "tag" / "cora")
    assert tag.num_nodes == 2708 and len(tag.class_names) == 7
    assert int((tag.data.y == tag.class_names.index("Neural_Networks")).sum()) == 818
