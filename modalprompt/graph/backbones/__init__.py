"""Graph backbones. Importing this package imports torch_geometric."""

from modalprompt.graph.backbones.molecule_gin import MoleculeGIN, load_pretrain_gnns_checkpoint
from modalprompt.graph.backbones.molecule_gnns import MoleculeGNN
from modalprompt.graph.backbones.node_encoders import NodeEncoder
from modalprompt.graph.backbones.pretrain_gnns import from_pretrain_gnns
from modalprompt.graph.backbones.relief_checkpoints import load_relief_node_checkpoint

__all__ = [
    "MoleculeGIN",
    "MoleculeGNN",
    "NodeEncoder",
    "from_pretrain_gnns",
    "load_pretrain_gnns_checkpoint",
    "load_relief_node_checkpoint",
]
