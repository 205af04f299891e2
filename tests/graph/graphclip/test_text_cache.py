import pytest
import torch

from modalprompt.graph.graphclip.text import CachedTextEmbedder, HashingTextEncoder


class Counting(HashingTextEncoder):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.seen = []

    def encode(self, texts):
        self.seen += list(texts)
        return super().encode(texts)


def test_embedding_cache_file_round_trip(tmp_path):
    path = tmp_path / "emb.safetensors"
    enc = Counting(dim=8)
    first = CachedTextEmbedder(enc, cache_file=path)
    a = first(["alpha beta", "gamma", "alpha beta"])
    assert a.shape == (3, 8) and enc.seen == ["alpha beta", "gamma"]
    first.save()
    enc2 = Counting(dim=8)
    second = CachedTextEmbedder(enc2, cache_file=path)
    b = second(["gamma", "alpha beta", "delta"])
    assert enc2.seen == ["delta"]  # the other two came from the file
    assert torch.equal(b[0], a[1]) and torch.equal(b[1], a[0])
    # another encoder name never reads these vectors
    enc3 = Counting(dim=8)
    CachedTextEmbedder(enc3, cache_file=path, encoder_name="other")(["gamma"])
    assert enc3.seen == ["gamma"]


def test_cache_file_dimension_mismatch_is_named(tmp_path):
    path = tmp_path / "emb.safetensors"
    c = CachedTextEmbedder(HashingTextEncoder(dim=8), cache_file=path)
    c(["x"])
    c.save()
    with pytest.raises(ValueError, match=r"cache_file .*expected a \(1, 4\) embedding matrix"):
        CachedTextEmbedder(
            HashingTextEncoder(dim=4), cache_file=path, encoder_name="HashingTextEncoder-8"
        )
    with pytest.raises(ValueError, match="without a cache_file"):
        CachedTextEmbedder(HashingTextEncoder(dim=4)).save()
