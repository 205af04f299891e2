"""The scaffold split with scaffold sets that land exactly on the train and valid cuts.

pretrain-gnns' rule: a set goes to train while ``len(train) + len(set) <= cut`` (``>`` sends it
on), so a set that fills train exactly to the cut stays in train. An off-by-one (``>=``) moves
it to valid and every later set with it (issue 22).
"""

from __future__ import annotations

import pytest

pytest.importorskip("rdkit")

from modalprompt.graph.datasets.molecules import scaffold_split  # noqa: E402

# scaffold sets: benzene x4 (0-3), cyclohexane x2 (4, 5), pyridine x2 (6, 7)
SMILES = [
    "c1ccccc1",
    "Cc1ccccc1",
    "Oc1ccccc1",
    "Nc1ccccc1",
    "C1CCCCC1",
    "CC1CCCCC1",
    "c1ccncc1",
    "Cc1ccncc1",
]


def test_sets_exactly_at_the_train_and_valid_cuts_stay_on_their_side():
    """Cuts 0.5 * 8 = 4 and 0.75 * 8 = 6 (exact in floating point): benzene (4) fills train to
    the cut, the first 2-set (pyridine: ties go to the larger first index) fills valid to its
    cut, cyclohexane goes to test."""
    assert scaffold_split(SMILES, (0.5, 0.25, 0.25)) == ([0, 1, 2, 3], [6, 7], [4, 5])


def test_one_molecule_below_the_cut_moves_the_set():
    """The same sets with a train cut just under 4 (3.92): benzene no longer fits train and
    goes to valid (4 <= 6); pyridine then fits train, cyclohexane overflows both cuts."""
    assert scaffold_split(SMILES, (0.49, 0.26, 0.25)) == ([6, 7], [0, 1, 2, 3], [4, 5])
