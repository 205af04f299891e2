"""Graph backbones. Importing this package imports torch_geometric."""

from modalprompt.graph.backbones.molecule_gin import MoleculeGIN, load_pretrain_gnns_checkpoint

__all__ = ["MoleculeGIN", "load_pretrain_gnns_checkpoint"]
