"""SciPrompt on a causal LM (issue 16 item 3): the weighted verbalizer over multi-token terms
reads the next token after the template; left padding changes nothing; calibration and
few-shot training run."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

pytest.importorskip("transformers")

from modalprompt.nlp.prompt_finetune.testing import TINY_EXAMPLES  # noqa: E402
from modalprompt.nlp.sciprompt import SciPromptConfig  # noqa: E402
from modalprompt.nlp.sciprompt.model import SciPromptModel  # noqa: E402
from modalprompt.nlp.sciprompt.testing import TINY_SCORES, TINY_TERMS  # noqa: E402
from modalprompt.nlp.tiny_models import tiny_causal_lm, tiny_roberta_tokenizer  # noqa: E402


def _model(**overrides):
    tok = tiny_roberta_tokenizer()
    torch.manual_seed(0)
    decoder = tiny_causal_lm("llama", vocab_size=len(tok), max_positions=128)
    config = SciPromptConfig(
        template="{text_a} It was {mask}",
        label_words=TINY_TERMS,
        label_word_scores=TINY_SCORES,
        max_length=64,
        **overrides,
    )
    return SciPromptModel(decoder, config, tokenizer=tok)


def _inputs(batch):
    return {k: v for k, v in batch.items() if k != "labels"}


def test_weighted_verbalizer_on_a_decoder_is_padding_invariant():
    model = _model().eval()
    assert model.template.decoder
    collate = model.collator()
    batch = collate(TINY_EXAMPLES[:4])
    assert bool((batch["attention_mask"][:, 0] == 0).any())  # left-padded rows
    with torch.no_grad():
        logits = model(**_inputs(batch))["logits"]
        for i, example in enumerate(TINY_EXAMPLES[:4]):
            alone = model(**_inputs(collate([example])))["logits"]
            torch.testing.assert_close(logits[i], alone[0], atol=1e-5, rtol=1e-5)


def test_calibration_and_few_shot_training_on_a_decoder():
    model = _model(freeze_backbone=True)
    support = DataLoader(TINY_EXAMPLES, batch_size=3, collate_fn=model.collator())
    prior = model.calibrate(support)
    assert prior.shape == (model.backbone.get_input_embeddings().num_embeddings,)
    assert torch.isfinite(prior).all()
    model = _model(freeze_backbone=True)
    batch = model.collator()(TINY_EXAMPLES)
    before = model.verbalizer.word_weights.detach().clone()
    optimizer = torch.optim.SGD(model.trainable_parameters(), lr=2.0)
    model.train()
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = model.training_step(batch)["loss"]
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert not torch.equal(model.verbalizer.word_weights.detach(), before)
    assert losses[-1] < losses[0]
