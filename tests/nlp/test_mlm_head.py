"""warm_up_mlm_head: trains the head only, lowers the held-out loss, rejects other models."""

import pytest
import torch

from modalprompt.nlp.mlm_head import warm_up_mlm_head
from modalprompt.nlp.tiny_models import TINY_WORDS, tiny_bert, tiny_bert_tokenizer

pytest.importorskip("transformers")


def _texts(n: int = 200) -> list[str]:
    g = torch.Generator().manual_seed(0)
    words = list(TINY_WORDS[:20])
    # a skewed corpus (most tokens are "movie"): even the unigram prior a head can learn from
    # any encoder states is far from the random head's near-uniform guess
    out = []
    for _ in range(n):
        picks = torch.randint(0, len(words), (8,), generator=g).tolist()
        keep = torch.rand(8, generator=g) < 0.3
        out.append(" ".join(words[i] if k else "movie" for i, k in zip(picks, keep, strict=True)))
    return out


def test_head_learns_and_nothing_else_changes():
    model, tokenizer = tiny_bert(), tiny_bert_tokenizer()
    encoder_before = {k: v.clone() for k, v in model.bert.state_dict().items()}
    head = model.cls.predictions
    transform_before = head.transform.dense.weight.clone()
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    result = warm_up_mlm_head(model, tokenizer, _texts(), epochs=30, lr=1e-2, batch_size=64)
    assert result.masked_tokens > 0
    assert result.loss_after < result.loss_before - 1.0
    assert not torch.equal(head.transform.dense.weight, transform_before)
    for k, v in model.bert.state_dict().items():  # encoder and tied word embeddings untouched
        assert torch.equal(v, encoder_before[k]), k
    assert flags == {n: p.requires_grad for n, p in model.named_parameters()}
    assert not model.training


def test_rejects_models_without_a_bert_head():
    with pytest.raises(TypeError, match="model: expected a BertForMaskedLM"):
        warm_up_mlm_head(torch.nn.Linear(2, 2), tiny_bert_tokenizer(), ["a b"])
