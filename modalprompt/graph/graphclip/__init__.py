"""GraphCLIP (Zhu et al., WWW 2025, arXiv:2410.10329): graph–summary contrastive pre-training.

A GraphGPS encoder is aligned with a frozen text encoder (all-MiniLM-L6-v2) by symmetric
InfoNCE between RWR subgraphs and their summaries, with augmentation + adversarial feature
perturbation as the invariant-learning surrogate; zero-shot classification compares graph
embeddings with class texts; few-shot tuning learns a feature prompt with the same loss.
"""

from modalprompt.graph.graphclip.config import GraphClipConfig

__all__ = ["GraphClipConfig"]
