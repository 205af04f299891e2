"""The CiteSeer TAG kept in this repository (data/graph/tag/citeseer) and its loader."""

import csv
import gzip
import shutil
from collections import Counter
from pathlib import Path

import pytest

from modalprompt.graph.tag.loaders import CITESEER_CLASSES, load_tag_citeseer

CITESEER = Path(__file__).resolve().parents[3] / "data" / "graph" / "tag" / "citeseer"


def test_real_citeseer_counts_and_alignment():
    tag = load_tag_citeseer(CITESEER)
    assert tag.num_nodes == 3186
    assert tag.data.edge_index.size(1) == 2 * 4225
    counts = Counter(tag.class_names[int(c)] for c in tag.data.y)
    assert counts == {
        "Databases": 699,
        "Information Retrieval": 646,
        "Machine Learning": 572,
        "Agents": 560,
        "Human-Computer Interaction": 501,
        "Artificial Intelligence": 208,
    }
    # texts, labels and links line up: 1-based text ids vs 0-based label/edge ids
    assert tag.texts[0].startswith("Argument in Multi-Agent Systems")
    assert tag.class_names[int(tag.data.y[0])] == "Agents"
    assert tag.texts[2].startswith("Exploration versus Exploitation in Topic Driven Crawlers")
    assert tag.class_names[int(tag.data.y[2])] == "Information Retrieval"
    src, dst = tag.data.edge_index
    homophily = float((tag.data.y[src] == tag.data.y[dst]).float().mean())
    assert homophily == pytest.approx(0.784, abs=0.002)  # shifted by one node it is 0.18
    assert max(len(t) for t in tag.texts) <= 600
    assert set(tag.class_descriptions) == set(tag.class_names) == set(CITESEER_CLASSES.values())


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "citeseer"
    shutil.copytree(CITESEER, root)
    return root


def _rewrite_nodes(root: Path, edit) -> None:
    with gzip.open(root / "node_info.csv.gz", "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    rows = edit(rows)
    (root / "node_info.csv.gz").unlink()
    with (root / "node_info.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["paper_id", "title", "abs"])
        writer.writeheader()
        writer.writerows(rows)


def test_citeseer_reads_plain_csv_and_cuts_texts(tmp_path):
    root = _copy(tmp_path)
    _rewrite_nodes(root, lambda rows: rows)
    tag = load_tag_citeseer(root, max_chars=40)
    assert tag.num_nodes == 3186 and max(len(t) for t in tag.texts) == 40


def test_citeseer_bad_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no node_info.csv or node_info.csv.gz"):
        load_tag_citeseer(tmp_path)
    root = _copy(tmp_path)

    def shifted(rows):
        rows[5]["paper_id"] = "99999"
        return rows

    _rewrite_nodes(root, shifted)
    with pytest.raises(
        ValueError, match=r"expected paper_id 1\.\.3186 in row order, row 7 has 99999"
    ):
        load_tag_citeseer(root)

    root = _copy(tmp_path / "b")
    lines = (root / "data.csv").read_text().splitlines()
    (root / "data.csv").write_text("\n".join(lines[:-1]) + "\n")  # the last label gone
    with pytest.raises(
        ValueError, match=r"no label for 1 node id\(s\) of 0\.\.3185, e\.g\. \[3185\]"
    ):
        load_tag_citeseer(root)
    (root / "data.csv").write_text("\n".join([*lines[:-1], "3185,Physics"]) + "\n")
    with pytest.raises(ValueError, match=r"labels \['Physics'\] are not CiteSeer's"):
        load_tag_citeseer(root)

    (root / "data.csv").write_text("\n".join([*lines[:-1], "last,HCI"]) + "\n")
    with pytest.raises(ValueError, match=r"data\.csv: row 3187 has paper_id 'last', expected an"):
        load_tag_citeseer(root)

    root = _copy(tmp_path / "c")
    with (root / "graph.csv").open("a") as f:
        f.write("3186,0\n")
    with pytest.raises(ValueError, match=r"graph\.csv: 1 edge\(s\) name a node id outside"):
        load_tag_citeseer(root)
