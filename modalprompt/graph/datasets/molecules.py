"""Molecules as graphs, exactly as snap-stanford/pretrain-gnns featurises them, plus the
deterministic scaffold split and a MoleculeNet CSV loader.

Atoms: ``[atomic number - 1, chirality tag]``; bonds (both directions): ``[bond type, bond
direction]`` with types single/double/triple/aromatic and directions none/end-up-right/
end-down-right. Molecules RDKit cannot parse, or with atoms/bonds outside those vocabularies
(dummy atoms, dative bonds), are skipped and counted, never silently.

``largest_fragment=True`` keeps only the largest fragment of a multi-fragment SMILES (a salt's
organic ion without its counter-ions); off by default, as in the official code. Measured on the
official ContextPred GCN: an isolated atom (a counter-ion such as ``[Na+]`` or ``[Cl-]``) has no
neighbour to share the symmetric normalisation with, and reaches about 26,000 times the
BatchNorm variance at the last layer (median over BBBP's isolated atoms; 0.09 for bonded atoms),
so it dominates the mean-pooled embedding of its molecule (57 of BBBP's first 1,000 molecules,
96% of them salts); the pre-training never showed it one.

Differs from the official code: the chirality tag ``CHI_OTHER`` (index 3, beyond the 3-row
embedding the official model allocates, so the official code would fail on it) is mapped to
``CHI_UNSPECIFIED``.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import torch

__all__ = [
    "smiles_to_graph",
    "largest_fragment_of",
    "scaffold_split",
    "MoleculeDataset",
    "load_moleculenet_csv",
]


def _vocabularies():
    from rdkit import Chem

    chirality = {
        Chem.rdchem.ChiralType.CHI_UNSPECIFIED: 0,
        Chem.rdchem.ChiralType.CHI_TETRAHEDRAL_CW: 1,
        Chem.rdchem.ChiralType.CHI_TETRAHEDRAL_CCW: 2,
        Chem.rdchem.ChiralType.CHI_OTHER: 0,
    }
    bonds = {
        Chem.rdchem.BondType.SINGLE: 0,
        Chem.rdchem.BondType.DOUBLE: 1,
        Chem.rdchem.BondType.TRIPLE: 2,
        Chem.rdchem.BondType.AROMATIC: 3,
    }
    directions = {
        Chem.rdchem.BondDir.NONE: 0,
        Chem.rdchem.BondDir.ENDUPRIGHT: 1,
        Chem.rdchem.BondDir.ENDDOWNRIGHT: 2,
    }
    return chirality, bonds, directions


def largest_fragment_of(mol):
    """The fragment of an RDKit molecule with the most atoms (the first of equals, in SMILES
    order); the molecule itself when it is one fragment."""
    from rdkit import Chem

    fragments = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
    if len(fragments) <= 1:
        return mol
    return max(fragments, key=lambda fragment: fragment.GetNumAtoms())  # first of equals


def smiles_to_graph(smiles: str, largest_fragment: bool = False):
    """PyG ``Data`` with ``x`` ``(N, 2)``, ``edge_index`` ``(2, 2B)``, ``edge_attr`` ``(2B, 2)``
    (all long), or None when RDKit cannot parse the SMILES or it has unsupported atoms/bonds.

    With ``largest_fragment`` only the fragment with the most atoms is kept (counter-ions and
    solvents of a salt dropped, see the module docstring)."""
    from rdkit import Chem, RDLogger
    from torch_geometric.data import Data

    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles) if isinstance(smiles, str) and smiles else None
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    if largest_fragment:
        mol = largest_fragment_of(mol)
    chirality, bonds, directions = _vocabularies()
    atoms = []
    for atom in mol.GetAtoms():
        number = atom.GetAtomicNum()
        if not 1 <= number <= 118:
            return None
        atoms.append([number - 1, chirality.get(atom.GetChiralTag(), 0)])
    edges, attrs = [], []
    for bond in mol.GetBonds():
        if bond.GetBondType() not in bonds or bond.GetBondDir() not in directions:
            return None
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        feature = [bonds[bond.GetBondType()], directions[bond.GetBondDir()]]
        edges += [[i, j], [j, i]]
        attrs += [feature, feature]
    edge_index = (
        torch.tensor(edges, dtype=torch.long).T if edges else torch.zeros(2, 0, dtype=torch.long)
    )
    edge_attr = (
        torch.tensor(attrs, dtype=torch.long) if attrs else torch.zeros(0, 2, dtype=torch.long)
    )
    return Data(x=torch.tensor(atoms, dtype=torch.long), edge_index=edge_index, edge_attr=edge_attr)


def scaffold_split(
    smiles: Sequence[str], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> tuple[list[int], list[int], list[int]]:
    """Deterministic Bemis–Murcko scaffold split (pretrain-gnns' ``scaffold_split``): scaffold
    sets sorted by size (largest first, ties by first index) fill train, then valid, then test."""
    from rdkit.Chem.Scaffolds import MurckoScaffold

    if not math.isclose(sum(fractions), 1.0) or any(f < 0 for f in fractions):
        raise ValueError(
            f"fractions: expected three non-negative numbers summing to 1, got {fractions}"
        )
    groups: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(smiles):
        groups[MurckoScaffold.MurckoScaffoldSmiles(smiles=s, includeChirality=True)].append(i)
    ordered = sorted(groups.values(), key=lambda ids: (len(ids), ids[0]), reverse=True)
    train_cut, valid_cut = fractions[0] * len(smiles), (fractions[0] + fractions[1]) * len(smiles)
    train, valid, test = [], [], []
    for ids in ordered:
        if len(train) + len(ids) > train_cut:
            (test if len(train) + len(valid) + len(ids) > valid_cut else valid).extend(ids)
        else:
            train.extend(ids)
    return train, valid, test


@dataclasses.dataclass
class MoleculeDataset:
    """Parsed molecules: ``graphs[i].y`` is ``(1, T)`` float with NaN for missing labels."""

    graphs: list
    smiles: list[str]
    tasks: list[str]
    skipped: int

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index: int):
        return self.graphs[index]

    def subset(self, indices: Sequence[int]) -> list:
        return [self.graphs[i] for i in indices]

    @property
    def max_nodes(self) -> int:
        return max(int(g.num_nodes) for g in self.graphs)


def load_moleculenet_csv(
    path: str | Path,
    smiles_column: str | None = None,
    tasks: Sequence[str] | None = None,
    limit: int | None = None,
    largest_fragment: bool = False,
) -> MoleculeDataset:
    """Read a MoleculeNet CSV (plain or ``.gz``): the first column (or ``smiles_column``) holds the
    SMILES, every other column (or ``tasks``) a binary task; an empty cell is a missing label.
    ``largest_fragment``: featurise only each molecule's largest fragment
    (:func:`smiles_to_graph`); ``smiles`` keeps the file's SMILES, so the scaffold split is the
    same either way."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no CSV at {path}")
    try:
        return _read_moleculenet(path, smiles_column, tasks, limit, largest_fragment)
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {err.start}: {err.reason})") from None
    except (OSError, EOFError, csv.Error) as err:
        raise ValueError(f"{path}: not a readable CSV: {err}") from None


def _read_moleculenet(path, smiles_column, tasks, limit, largest_fragment) -> MoleculeDataset:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        smiles_column = smiles_column or (columns[0] if columns else None)
        if smiles_column not in columns:
            raise ValueError(f"smiles_column: {smiles_column!r} not among the columns {columns}")
        tasks = list(tasks) if tasks is not None else [c for c in columns if c != smiles_column]
        unknown = sorted(set(tasks) - set(columns))
        if unknown or not tasks:
            raise ValueError(f"tasks: {unknown or 'none'} not usable; columns are {columns}")
        graphs, kept, skipped = [], [], 0
        for row in reader:
            if limit is not None and len(graphs) >= limit:
                break
            graph = smiles_to_graph(row[smiles_column], largest_fragment=largest_fragment)
            if graph is None:
                skipped += 1
                continue
            labels = [_label(path, reader.line_num, t, row[t]) for t in tasks]
            graph.y = torch.tensor([labels], dtype=torch.float32)
            graphs.append(graph)
            kept.append(row[smiles_column])
    if not graphs:
        raise ValueError(f"{path}: no molecule could be parsed ({skipped} skipped)")
    return MoleculeDataset(graphs, kept, tasks, skipped)


def _label(path: Path, line: int, task: str, cell: str | None) -> float:
    """A binary label cell: ``0``/``1`` (also ``0.0``, ``1.0``), or empty for a missing label."""
    if cell is None or not cell.strip():
        return math.nan
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if value not in (0.0, 1.0):
        raise ValueError(
            f"{path}:{line}: column {task!r} holds {cell!r}; a task column holds binary labels "
            "0/1, or an empty cell for a missing label"
        )
    return value
