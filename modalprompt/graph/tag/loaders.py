"""Loaders: TAGs from CSV/JSON files and the real text-attributed Cora."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, to_undirected

from modalprompt.graph.tag.types import TextAttributedGraph

__all__ = ["load_tag_csv", "load_tag_cora", "CORA_DESCRIPTIONS"]

CORA_DESCRIPTIONS = {
    "Case_Based": "reasoning from stored past cases and their adaptation to new problems",
    "Genetic_Algorithms": "evolutionary search with populations, mutation and crossover",
    "Neural_Networks": "artificial neural networks, learning rules and network architectures",
    "Probabilistic_Methods": "probabilistic models, Bayesian networks and statistical inference",
    "Reinforcement_Learning": "agents learning from rewards, value functions and policies",
    "Rule_Learning": "induction of symbolic rules and decision trees from examples",
    "Theory": "theoretical analysis of learning, complexity and learnability bounds",
}


def _build(texts, labels, edges, class_names, descriptions) -> TextAttributedGraph:
    n = len(texts)
    index = {c: i for i, c in enumerate(class_names)}
    unknown = sorted({lab for lab in labels if lab is not None and lab not in index})
    if unknown:
        raise ValueError(f"labels {unknown} are not in class_names {class_names}")
    y = torch.tensor([index[lab] if lab is not None else -1 for lab in labels], dtype=torch.long)
    ei = torch.tensor(edges, dtype=torch.long).t().reshape(2, -1)
    ei = coalesce(to_undirected(ei, num_nodes=n), num_nodes=n)
    ei = ei[:, ei[0] != ei[1]]
    return TextAttributedGraph(
        Data(edge_index=ei, y=y, num_nodes=n), texts, class_names, descriptions
    )


def load_tag_csv(
    nodes_csv: str | Path,
    edges_csv: str | Path,
    class_names: list[str] | None = None,
    descriptions_json: str | Path | None = None,
) -> TextAttributedGraph:
    """Nodes CSV with columns ``text,label`` (row order = node id; empty label = unlabelled),
    edges CSV with ``source,target``, optional JSON ``{class name: description}``."""
    with open(nodes_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for col in ("text", "label"):
        if rows and col not in rows[0]:
            raise ValueError(f"{nodes_csv}: missing column {col!r} (have {list(rows[0])})")
    texts = [r["text"] for r in rows]
    labels = [r["label"] or None for r in rows]
    with open(edges_csv, newline="", encoding="utf-8") as f:
        edges = [(int(r["source"]), int(r["target"])) for r in csv.DictReader(f)]
    names = class_names or sorted({lab for lab in labels if lab is not None})
    desc = json.loads(Path(descriptions_json).read_text()) if descriptions_json else None
    return _build(texts, labels, edges, names, desc)


def load_tag_cora(root: str | Path, max_chars: int = 600) -> TextAttributedGraph:
    """Text-attributed Cora from ``cora_text_graph_complete.jsonl`` + ``cora.cites``.

    Node ids follow the jsonl (``cora.content`` order, not PyG Planetoid's). Texts are cut to
    ``max_chars`` characters; class descriptions are short hand-written ones (the official ones
    are LLM-written and not in the data folder).
    """
    root = Path(root)
    recs = [json.loads(line) for line in (root / "cora_text_graph_complete.jsonl").open()]
    recs.sort(key=lambda r: r["node_id"])
    paper = {int(r["paper_id"]): i for i, r in enumerate(recs)}
    edges = []
    for line in (root / "cora.cites").read_text().split("\n"):
        parts = line.split()
        if len(parts) == 2 and int(parts[0]) in paper and int(parts[1]) in paper:
            edges.append((paper[int(parts[1])], paper[int(parts[0])]))
    texts = [r["text"].replace("\n", " ")[:max_chars] for r in recs]
    names = sorted(CORA_DESCRIPTIONS)
    return _build(texts, [r["label"] for r in recs], edges, names, dict(CORA_DESCRIPTIONS))
