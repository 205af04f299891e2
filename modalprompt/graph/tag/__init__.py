"""Text-attributed graphs (TAGs): a PyG graph whose nodes carry text, plus class names.

Pieces used by GraphCLIP and anyone working with TAGs: the :class:`TextAttributedGraph` type,
a procedural generator for tests, random-walk-with-restart subgraph sampling and summarisers.
"""

from modalprompt.graph.tag.sampling import rwr_subgraphs
from modalprompt.graph.tag.summary import CachedSummariser, default_summary
from modalprompt.graph.tag.synthetic import procedural_tag
from modalprompt.graph.tag.types import TextAttributedGraph

__all__ = [
    "TextAttributedGraph",
    "procedural_tag",
    "rwr_subgraphs",
    "default_summary",
    "CachedSummariser",
]
