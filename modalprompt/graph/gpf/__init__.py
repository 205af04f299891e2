"""GPF and GPF-plus: universal prompt tuning for GNNs (Fang et al., NeurIPS 2023, arXiv:2209.15240).

A learnable vector added to every node's input features (GPF), or a per-node attention mixture
of ``num_basis`` learnable vectors (GPF-plus); for molecules the input space is the atom
embedding of the frozen GIN, as in the official code.
"""

from modalprompt.graph.gpf.config import GpfConfig, GpfPlusConfig

__all__ = ["GpfConfig", "GpfPlusConfig"]
