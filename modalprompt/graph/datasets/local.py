"""PyG datasets read from a local ``root`` only (TU, Planetoid); downloading is refused.

PyG's ``TUDataset`` / ``Planetoid`` download when ``root/<name>/raw`` is missing. Here the raw
files must already be present; otherwise a ``FileNotFoundError`` names the folder and the files
expected, and nothing is fetched. PyG writes ``processed/`` next to ``raw/``, so point ``root`` at a
writable copy (tests copy the shared data to a temporary folder).
"""

from __future__ import annotations

from pathlib import Path

_PLANETOID_SUFFIXES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")


def _require_raw(raw: Path, expected: list[str]) -> None:
    missing = [name for name in expected if not (raw / name).exists()]
    if missing:
        raise FileNotFoundError(
            f"root: expected raw files {missing} in {raw}; modalprompt never downloads, "
            "copy the dataset's raw files there first"
        )


def load_tu_dataset(root: str | Path, name: str, **kwargs):
    """Load a TU dataset (e.g. ``MUTAG``, ``ENZYMES``, ``AIDS``) from ``root/<name>/raw``.

    Args:
        root: folder holding ``<name>/raw/<name>_A.txt`` and the other TU text files.
        name: the dataset name, as in the TU file names.
        **kwargs: passed to ``torch_geometric.datasets.TUDataset`` (``use_node_attr``, ...).

    Returns:
        The ``TUDataset``.
    """
    from torch_geometric.datasets import TUDataset

    raw = Path(root) / name / "raw"
    _require_raw(raw, [f"{name}_A.txt", f"{name}_graph_indicator.txt"])
    return TUDataset(str(root), name, **kwargs)


def load_planetoid(root: str | Path, name: str, **kwargs):
    """Load a Planetoid graph (``Cora``, ``CiteSeer``, ``PubMed``) from ``root/<name>/raw``.

    Args:
        root: folder holding ``<name>/raw/ind.<name lower>.{x,tx,allx,y,ty,ally,graph,test.index}``.
        name: ``"Cora"``, ``"CiteSeer"`` or ``"PubMed"``.
        **kwargs: passed to ``torch_geometric.datasets.Planetoid`` (``split``, ...).

    Returns:
        The ``Planetoid`` dataset (one graph).
    """
    from torch_geometric.datasets import Planetoid

    raw = Path(root) / name / "raw"
    _require_raw(raw, [f"ind.{name.lower()}.{s}" for s in _PLANETOID_SUFFIXES])
    return Planetoid(str(root), name, **kwargs)
