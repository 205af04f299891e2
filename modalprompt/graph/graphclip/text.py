"""Frozen text encoders with an embedding cache: MiniLM from a local path, or a tiny hashing one."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import Tensor, nn

from modalprompt.core.pretrained import minilm_path

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


class SentenceTransformerEncoder:
    """A frozen sentence-transformers model read from a local folder (never downloaded)."""

    def __init__(
        self, path: str | Path | None = None, device: str = "cpu", batch_size: int = 64
    ) -> None:
        from sentence_transformers import SentenceTransformer

        path = Path(path) if path is not None else minilm_path()
        if not path.exists():
            raise FileNotFoundError(f"text encoder folder {path} does not exist")
        self.model = SentenceTransformer(str(path), device=device, local_files_only=True)
        self.model.eval()
        self.batch_size = batch_size
        self.name = f"sentence-transformers:{path}"
        get_dim = getattr(self.model, "get_embedding_dimension", None) or getattr(
            self.model, "get_sentence_embedding_dimension", None
        )
        self.dim = int(get_dim()) if get_dim else int(self.model.encode(["x"]).shape[-1])

    @torch.no_grad()
    def encode(self, texts: list[str]) -> Tensor:
        """``len(texts)`` strings → ``(len(texts), dim)`` unit vectors."""
        out = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_tensor=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return out.float().cpu()


class CachedTextEmbedder:
    """Memoise ``encoder.encode`` per text; each distinct text is encoded once.

    Args:
        encoder: Anything with ``dim`` and ``encode(texts) -> (len(texts), dim)``.
        cache_file: Optional safetensors file that keeps the embeddings across runs (read at
            construction when it exists, written by :meth:`save`). Entries are keyed by
            ``sha256(encoder_name + text)``, so a file never mixes two encoders' vectors.
        encoder_name: Part of the key; defaults to the encoder's class name and dimension.
    """

    def __init__(
        self,
        encoder: HashingTextEncoder | SentenceTransformerEncoder,
        cache_file: str | Path | None = None,
        encoder_name: str | None = None,
    ) -> None:
        self.encoder = encoder
        self.dim = int(encoder.dim)
        default = getattr(encoder, "name", None) or f"{type(encoder).__name__}-{self.dim}"
        self.encoder_name = encoder_name or default
        self.cache_file = Path(cache_file) if cache_file is not None else None
        self._cache: dict[str, Tensor] = {}
        self._stored: dict[str, Tensor] = {}
        if self.cache_file is not None and self.cache_file.exists():
            self._stored = self._read(self.cache_file)

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.encoder_name}\0{text}".encode()).hexdigest()

    def _read(self, path: Path) -> dict[str, Tensor]:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            keys = json.loads((f.metadata() or {}).get("keys", "[]"))
            matrix = f.get_tensor("embeddings") if keys else torch.zeros(0, self.dim)
        if matrix.dim() != 2 or matrix.size(0) != len(keys) or matrix.size(1) != self.dim:
            raise ValueError(
                f"cache_file {path}: expected a ({len(keys)}, {self.dim}) embedding matrix, got "
                f"{tuple(matrix.shape)}; delete it or pass another cache_file"
            )
        return dict(zip(keys, matrix))

    @property
    def num_stored(self) -> int:
        """Vectors read from ``cache_file`` at construction."""
        return len(self._stored)

    def __len__(self) -> int:
        """Distinct texts embedded (or read from the cache file) so far."""
        return len(self._cache)

    def __call__(self, texts: list[str]) -> Tensor:
        """``(len(texts), dim)`` embeddings."""
        new = sorted({t for t in texts if t not in self._cache})
        missing = []
        for t in new:
            stored = self._stored.get(self._key(t))
            if stored is not None:
                self._cache[t] = stored
            else:
                missing.append(t)
        if missing:
            for t, e in zip(missing, self.encoder.encode(missing)):
                self._cache[t] = e
        if not texts:
            return torch.zeros(0, self.dim)
        return torch.stack([self._cache[t] for t in texts])

    def save(self) -> Path:
        """Write every embedding seen so far (plus those read) to ``cache_file``, atomically."""
        if self.cache_file is None:
            raise ValueError("save: this CachedTextEmbedder was built without a cache_file")
        from modalprompt.core.io import atomic_save_tensors

        entries = {**self._stored, **{self._key(t): e for t, e in self._cache.items()}}
        keys = sorted(entries)
        matrix = torch.stack([entries[k] for k in keys]) if keys else torch.zeros(0, self.dim)
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_save_tensors(
            self.cache_file,
            {"embeddings": matrix.float().contiguous()},
            {"keys": json.dumps(keys), "encoder": self.encoder_name},
        )
        return self.cache_file
