"""Loaders: TAGs from CSV/JSON files and the real text-attributed Cora and CiteSeer."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, to_undirected

from modalprompt.graph.tag.types import TextAttributedGraph, check_node_texts

__all__ = [
    "load_tag_csv",
    "load_tag_json",
    "load_tag_cora",
    "load_tag_citeseer",
    "CORA_DESCRIPTIONS",
    "CITESEER_CLASSES",
    "CITESEER_DESCRIPTIONS",
]

CORA_DESCRIPTIONS = {
    "Case_Based": "reasoning from stored past cases and their adaptation to new problems",
    "Genetic_Algorithms": "evolutionary search with populations, mutation and crossover",
    "Neural_Networks": "artificial neural networks, learning rules and network architectures",
    "Probabilistic_Methods": "probabilistic models, Bayesian networks and statistical inference",
    "Reinforcement_Learning": "agents learning from rewards, value functions and policies",
    "Rule_Learning": "induction of symbolic rules and decision trees from examples",
    "Theory": "theoretical analysis of learning, complexity and learnability bounds",
}

#: CiteSeer's label codes (``data.csv``) and their names (``label_info.csv`` of the source).
CITESEER_CLASSES = {
    "Agents": "Agents",
    "AI": "Artificial Intelligence",
    "DB": "Databases",
    "HCI": "Human-Computer Interaction",
    "IR": "Information Retrieval",
    "ML": "Machine Learning",
}
CITESEER_DESCRIPTIONS = {
    "Agents": "autonomous software agents, multi-agent systems and their communication",
    "Artificial Intelligence": "knowledge representation, planning, reasoning and search",
    "Databases": "database systems, query processing, storage and data management",
    "Human-Computer Interaction": "user interfaces, interaction design and usability studies",
    "Information Retrieval": "search engines, document retrieval, indexing and web search",
    "Machine Learning": "learning algorithms, classification and statistical models from data",
}


def _build(
    texts: list[str],
    labels: list[str | None],
    edges: list[tuple[int, int]],
    class_names: list[str],
    descriptions: dict[str, str] | None,
    source: str = "edges",
) -> TextAttributedGraph:
    n = len(texts)
    check_node_texts(texts)
    outside = [(a, b) for a, b in edges if not (0 <= a < n and 0 <= b < n)]
    if outside:
        raise ValueError(
            f"{source}: {len(outside)} edge(s) name a node id outside [0, {n}), e.g. {outside[:3]}"
        )
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
    rows = _read_csv(nodes_csv, ("text", "label"))
    texts = [r["text"] for r in rows]
    labels = [r["label"] or None for r in rows]
    edges = [
        _node_pair(edges_csv, f"row {i + 2}", (r["source"], r["target"]))
        for i, r in enumerate(_read_csv(edges_csv, ("source", "target")))
    ]
    names = class_names or sorted({lab for lab in labels if lab is not None})
    desc = None
    if descriptions_json:
        desc = _read_json(descriptions_json)
        if not isinstance(desc, dict):
            raise ValueError(f"{descriptions_json}: expected a JSON object {{class: description}}")
    try:
        return _build(texts, labels, edges, names, desc, str(edges_csv))
    except ValueError as err:
        if str(err).startswith(str(edges_csv)):
            raise
        raise ValueError(f"{nodes_csv}: {err}") from None


def _read_text(path: str | Path) -> str:
    """The file's UTF-8 text; a ``.gz`` file is decompressed first."""
    try:
        if Path(path).suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as f:
                return f.read()
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {err.start}: {err.reason})") from None


def _read_json(path: str | Path) -> object:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}: JSON syntax error: {err.msg}") from None


def _read_csv(path: str | Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of a CSV with header ``columns``; a short row or a missing column names the file."""
    rows = list(csv.DictReader(io.StringIO(_read_text(path), newline="")))
    for col in columns:
        if rows and col not in rows[0]:
            raise ValueError(f"{path}: missing column {col!r} (have {list(rows[0])})")
    for i, row in enumerate(rows):
        if any(row[col] is None for col in columns):
            raise ValueError(f"{path}: row {i + 2} has fewer than {len(columns)} columns")
    return rows


def _node_pair(path: str | Path, where: str, pair) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in pair)
        if isinstance(pair[0], float) or isinstance(pair[1], float):
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(
            f"{path}: {where} = {list(pair)!r} is not a pair of integer node ids"
        ) from None
    return a, b


def load_tag_json(path: str | Path) -> TextAttributedGraph:
    """A TAG from one JSON file::

        {"nodes": [{"text": "...", "label": "name or null"}, ...],   # list order = node id
         "edges": [[source, target], ...],                            # undirected
         "class_names": ["...", ...],                                 # optional
         "class_descriptions": {"name": "...", ...}}                  # optional

    Without ``class_names`` the sorted distinct labels are used. A node without text (missing,
    null or blank), an unknown label, an edge to a missing node, or a class without description
    (when descriptions are given) raises a ValueError that names it.

    Shapes:
        result ``data.edge_index`` ``(2, E)`` (both directions), ``data.y`` ``(N,)``.
    """
    obj = _read_json(path)
    if not isinstance(obj, dict) or not isinstance(obj.get("nodes"), list):
        raise ValueError(f"{path}: expected a JSON object with a 'nodes' list")
    texts, labels = [], []
    for i, node in enumerate(obj["nodes"]):
        if not isinstance(node, dict):
            raise ValueError(f"{path}: nodes[{i}] is not an object with 'text' (and 'label')")
        texts.append(node.get("text"))
        label = node.get("label")
        labels.append(None if label is None or label == "" else str(label))
    if not isinstance(obj.get("edges", []), list):
        raise ValueError(f"{path}: 'edges' must be a list of [source, target] pairs")
    edges = []
    for j, e in enumerate(obj.get("edges", [])):
        if not isinstance(e, (list, tuple)) or len(e) != 2:
            raise ValueError(f"{path}: edges[{j}] = {e!r} is not a [source, target] pair")
        edges.append(_node_pair(path, f"edges[{j}]", e))
    names = obj.get("class_names") or sorted({lab for lab in labels if lab is not None})
    if not isinstance(names, list) or not all(isinstance(c, str) for c in names):
        raise ValueError(f"{path}: 'class_names' must be a list of names (strings)")
    desc = obj.get("class_descriptions")
    if desc is not None and not isinstance(desc, dict):
        raise ValueError(f"{path}: 'class_descriptions' must be an object {{class: description}}")
    try:
        return _build(texts, labels, edges, list(names), desc, str(path))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


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


def _paper_id(path: Path, index: int, value: str) -> int:
    """``value`` of data row ``index`` as an integer id, or a ValueError naming file and row."""
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"{path}: row {index + 2} has paper_id {value!r}, expected an integer"
        ) from None


def load_tag_citeseer(root: str | Path, max_chars: int = 600) -> TextAttributedGraph:
    """Text-attributed CiteSeer (3,186 papers, 6 classes) from the folder layout of
    ``data/graph/tag/citeseer`` in this repository (see its README for the source).

    Files: ``node_info.csv`` or ``node_info.csv.gz`` (``paper_id,title,abs``, ids 1..N in row
    order), ``data.csv`` (``paper_id,label``, ids 0..N-1), ``graph.csv`` (``paper_id1,
    paper_id2``, ids 0..N-1). Node ``i`` is the ``i``-th row of ``node_info`` and id ``i`` of the
    other two files: the texts' ids are 1-based, the labels' and edges' 0-based. (Joining the
    files on ``paper_id``, as the source repository's converter does, shifts every label by one
    node; its jsonl carries that shift.) A node's text is its title and abstract, cut to
    ``max_chars`` characters; class names are the full names of :data:`CITESEER_CLASSES`, with
    short hand-written descriptions.

    Shapes:
        result ``data.edge_index`` ``(2, E)`` (both directions), ``data.y`` ``(N,)``.
    """
    root = Path(root)
    nodes_path = root / "node_info.csv"
    if not nodes_path.is_file():
        nodes_path = root / "node_info.csv.gz"
    if not nodes_path.is_file():
        raise FileNotFoundError(f"root: {root} has no node_info.csv or node_info.csv.gz")
    rows = _read_csv(nodes_path, ("paper_id", "title", "abs"))
    ids = [_paper_id(nodes_path, i, r["paper_id"]) for i, r in enumerate(rows)]
    if ids != list(range(1, len(rows) + 1)):
        first = next(i for i, v in enumerate(ids) if v != i + 1)
        raise ValueError(
            f"{nodes_path}: expected paper_id 1..{len(rows)} in row order, row {first + 2} has "
            f"{ids[first]}"
        )
    labels_rows = _read_csv(root / "data.csv", ("paper_id", "label"))
    by_id = {
        _paper_id(root / "data.csv", i, r["paper_id"]): r["label"]
        for i, r in enumerate(labels_rows)
    }
    missing = [i for i in range(len(rows)) if i not in by_id]
    if missing:
        raise ValueError(
            f"{root / 'data.csv'}: no label for {len(missing)} node id(s) of 0..{len(rows) - 1}, "
            f"e.g. {missing[:3]}"
        )
    unknown = sorted({by_id[i] for i in range(len(rows))} - set(CITESEER_CLASSES))
    if unknown:
        raise ValueError(
            f"{root / 'data.csv'}: labels {unknown} are not CiteSeer's {sorted(CITESEER_CLASSES)}"
        )
    edges_path = root / "graph.csv"
    edges = [
        _node_pair(edges_path, f"row {i + 2}", (r["paper_id1"], r["paper_id2"]))
        for i, r in enumerate(_read_csv(edges_path, ("paper_id1", "paper_id2")))
    ]
    texts = [f"{r['title']} {r['abs']}".strip()[:max_chars] for r in rows]
    labels = [CITESEER_CLASSES[by_id[i]] for i in range(len(rows))]
    names = sorted(CITESEER_DESCRIPTIONS)
    return _build(texts, labels, edges, names, dict(CITESEER_DESCRIPTIONS), str(edges_path))
