"""Fuzz the readers of user files: LM-BFF k-shot folders, TAG CSV/JSON, MoleculeNet CSV, point
and mesh files. Damaged files (short rows, wrong columns, non-UTF-8 bytes, bad JSON, edges to
missing nodes, bad SMILES, non-binary labels, bad OBJ/txt lines) either load into a result that
agrees with the file, or raise a ValueError/FileNotFoundError of ours naming the file."""

from __future__ import annotations

import itertools
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("torch_geometric")

from modalprompt.graph.tag.loaders import load_tag_csv, load_tag_json  # noqa: E402
from modalprompt.nlp.datasets.lmbff import LMBFF_PROMPTS, load_lmbff  # noqa: E402
from modalprompt.pointcloud.datasets.meshes import read_mesh, read_points_file  # noqa: E402
from modalprompt.pointcloud.datasets.readers import read_modelnet_txt  # noqa: E402

from ._ours import outcome  # noqa: E402

ALSO = (FileNotFoundError,)
CELL = st.one_of(
    st.sampled_from(["", " ", "0", "1", "-1", "2", "0.5", "nan", "x", "great", "terrible"]),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=8),
)
BAD_BYTES = st.sampled_from([b"\xff\xfe\x00", b"\xc3\x28", b"\x80abc", b"\xe2\x82"])


_CASES = itertools.count()
_BASE: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def _base(tmp_path_factory):
    """One folder for the module's cases (numbered, not random: hypothesis warns on ``random``)."""
    _BASE[:] = [tmp_path_factory.mktemp("fuzz-loaders")]


def _folder() -> Path:
    folder = _BASE[0] / f"case{next(_CASES)}"
    folder.mkdir()
    return folder


def _damage(text: str, damage: bytes | None, where: float) -> bytes:
    raw = text.encode("utf-8")
    if damage is None:
        return raw
    cut = int(where * len(raw))
    return raw[:cut] + damage + raw[cut:]


def _quiet(fn):
    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()

    return run


# ------------------------------------------------------------------------------------ LM-BFF
@given(
    task=st.sampled_from(["SST-2", "sst-5", "mr", "CoLA", "MRPC", "RTE"]),
    rows=st.lists(st.lists(CELL, min_size=0, max_size=6), min_size=0, max_size=6),
    header=st.booleans(),
    damage=st.one_of(st.none(), BAD_BYTES),
    where=st.floats(0, 1),
)
def test_lmbff_kshot_folder(task, rows, header, damage, where):
    folder = _folder() / task / "16-13"
    folder.mkdir(parents=True)
    sep = "," if task in ("sst-5", "mr", "cr") else "\t"
    lines = ([sep.join(["a", "b", "c"])] if header else []) + [
        sep.join(c.replace("\n", " ").replace("\r", " ").replace(sep, " ") for c in r) for r in rows
    ]
    path = folder / ("train.csv" if sep == "," else "train.tsv")
    path.write_bytes(_damage("\n".join(lines) + "\n", damage, where))
    result, error = outcome(lambda: load_lmbff(folder.parents[1], task), ["train", "16-13"], ALSO)
    if error is None:
        labels = LMBFF_PROMPTS[task].labels
        for example in result["train"]:
            assert 0 <= example["label"] < len(labels)
            assert isinstance(example["text_a"], str)


# ------------------------------------------------------------------------------- TAG CSV/JSON
NODE = st.fixed_dictionaries(
    {},
    optional={
        "text": st.one_of(
            st.none(), st.sampled_from(["", "  ", "a paper", "graphs"]), st.integers()
        ),
        "label": st.one_of(st.none(), st.sampled_from(["", "A", "B"]), st.integers(0, 2)),
    },
)
JUNK = st.one_of(st.none(), st.integers(-3, 5), st.text(max_size=3), st.floats(allow_nan=True))
EDGE = st.one_of(
    st.tuples(st.integers(-2, 6), st.integers(-2, 6)).map(list),
    st.lists(JUNK, max_size=3),
    JUNK,
)


@given(
    nodes=st.lists(st.one_of(NODE, JUNK), max_size=6),
    edges=st.one_of(st.lists(EDGE, max_size=6), JUNK),
    class_names=st.one_of(st.none(), st.just(["A", "B"]), st.lists(JUNK, max_size=3), JUNK),
    descriptions=st.one_of(st.none(), st.just({"A": "a", "B": "b"}), st.just({"A": ""}), JUNK),
    syntax=st.sampled_from([None, "cut", "comma", "bytes"]),
)
def test_tag_json(nodes, edges, class_names, descriptions, syntax):
    obj = {"nodes": nodes, "edges": edges}
    if class_names is not None:
        obj["class_names"] = class_names
    if descriptions is not None:
        obj["class_descriptions"] = descriptions
    text = json.dumps(obj)
    if syntax == "cut":
        text = text[: len(text) // 2]
    elif syntax == "comma":
        text = text[:-1] + ",}"
    path = _folder() / "graph.json"
    path.write_bytes(_damage(text, b"\xff" if syntax == "bytes" else None, 0.5))
    result, error = outcome(_quiet(lambda: load_tag_json(path)), [str(path)], ALSO)
    if error is None:
        assert result.data.num_nodes == len(nodes)
        assert all(isinstance(t, str) and t.strip() for t in result.texts)
        n = len(nodes)
        ei = result.data.edge_index
        assert ei.numel() == 0 or (int(ei.min()) >= 0 and int(ei.max()) < n)


@given(
    header=st.sampled_from(["text,label", "label,text", "text", "txt,label", ""]),
    rows=st.lists(st.lists(CELL, max_size=3), max_size=5),
    edge_header=st.sampled_from(["source,target", "src,dst", "source"]),
    edge_rows=st.lists(
        st.lists(st.one_of(st.integers(-2, 6).map(str), CELL), max_size=3), max_size=5
    ),
    damage=st.one_of(st.none(), BAD_BYTES),
)
def test_tag_csv(header, rows, edge_header, edge_rows, damage):
    folder = _folder()
    nodes, edges = folder / "nodes.csv", folder / "edges.csv"

    def csv_text(head, body):
        return "\n".join([head] + [",".join(f'"{c}"' for c in r) for r in body]) + "\n"

    nodes.write_bytes(_damage(csv_text(header, rows), damage, 0.7))
    edges.write_text(csv_text(edge_header, edge_rows), encoding="utf-8")
    result, error = outcome(
        _quiet(lambda: load_tag_csv(nodes, edges)), ["nodes.csv", "edges.csv", "texts"], ALSO
    )
    if error is None:
        assert all(isinstance(t, str) and t.strip() for t in result.texts)
        n = result.data.num_nodes
        ei = result.data.edge_index
        assert ei.numel() == 0 or (int(ei.min()) >= 0 and int(ei.max()) < n)


# -------------------------------------------------------------------------------- MoleculeNet
SMILES = st.sampled_from(["CCO", "c1ccccc1", "C1CC", "", "not-a-smiles", "[Xx]", "O=C=O", "N#N"])


@given(
    columns=st.sampled_from([["smiles", "p_np"], ["smiles", "a", "b"], ["smiles"]]),
    rows=st.lists(st.lists(st.one_of(SMILES, CELL), max_size=4), min_size=0, max_size=6),
    damage=st.one_of(st.none(), BAD_BYTES),
)
def test_moleculenet_csv(columns, rows, damage):
    from modalprompt.graph.datasets.molecules import load_moleculenet_csv

    pytest.importorskip("rdkit")
    path = _folder() / "mols.csv"
    text = "\n".join([",".join(columns)] + [",".join(f'"{c}"' for c in r) for r in rows]) + "\n"
    path.write_bytes(_damage(text, damage, 0.8))
    result, error = outcome(_quiet(lambda: load_moleculenet_csv(path)), ["mols.csv", "tasks"], ALSO)
    if error is None:
        assert len(result.graphs) + result.skipped <= len(rows)
        for graph in result.graphs:
            assert graph.y.shape == (1, len(columns) - 1)
            assert all(math.isnan(v) or v in (0.0, 1.0) for v in graph.y.flatten().tolist())


# ------------------------------------------------------------------------------- point files
NUMBER = st.one_of(
    st.sampled_from(["0", "1", "-1.5", "1e3", "nan", "inf", "x", "", "1/2"]),
    st.floats(-10, 10).map(repr),
)
OBJ_LINE = st.one_of(
    st.lists(NUMBER, min_size=0, max_size=4).map(lambda v: " ".join(["v"] + v)),
    st.lists(st.integers(-4, 6).map(str) | NUMBER, min_size=0, max_size=5).map(
        lambda v: " ".join(["f"] + v)
    ),
    st.sampled_from(["# comment", "vn 0 0 1", "", "o cube", "f 1/1/1 2/2/2 3/3/3"]),
)


@given(lines=st.lists(OBJ_LINE, max_size=10), damage=st.one_of(st.none(), BAD_BYTES))
def test_obj_mesh(lines, damage):
    path = _folder() / "mesh.obj"
    path.write_bytes(_damage("\n".join(lines) + "\n", damage, 0.5))
    result, error = outcome(lambda: read_mesh(path), ["mesh.obj"], ALSO)
    if error is None:
        vertices, faces = result
        assert vertices.ndim == 2 and vertices.shape[1] == 3 and np.isfinite(vertices).all()
        assert faces.size == 0 or (faces.min() >= 0 and faces.max() < len(vertices))
        points = read_points_file(path, 8, np.random.default_rng(0))
        assert points.shape == (8, 3) and np.isfinite(points).all()


@given(
    rows=st.lists(st.lists(NUMBER, max_size=7), max_size=6),
    sep=st.sampled_from([",", " "]),
    damage=st.one_of(st.none(), BAD_BYTES),
)
def test_point_txt(rows, sep, damage):
    folder = _folder()
    path = folder / "points.txt"
    path.write_bytes(_damage("\n".join(sep.join(r) for r in rows) + "\n", damage, 0.5))
    result, error = outcome(
        _quiet(lambda: read_points_file(path, 4, np.random.default_rng(0))), ["points.txt"], ALSO
    )
    if error is None:
        assert result.shape == (4, 3) and np.isfinite(result).all()
    if sep == ",":
        result, error = outcome(_quiet(lambda: read_modelnet_txt(path)), ["points.txt"], ALSO)
        if error is None:
            assert result.ndim == 2 and result.shape[1] == 3 and np.isfinite(result).all()
