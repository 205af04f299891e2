"""Masked-LM prompt methods on a causal LM: the answer slot is the next token after the template.

The reference is an unpadded forward of each row alone, its last position's vocabulary logits
gathered at the label words (what OpenPrompt does for GPT-2).
"""

from __future__ import annotations

import pytest
import torch

import modalprompt as mp
from modalprompt.nlp.classification import PromptForClassification
from modalprompt.nlp.templates import Template
from modalprompt.nlp.tiny_models import tiny_bert, tiny_causal_lm, tiny_roberta_tokenizer
from modalprompt.nlp.verbalizers import ManualVerbalizer, SoftVerbalizer

EXAMPLES = [
    {"text_a": "a great film", "label": 1},
    {"text_a": "it was terrible and boring, really", "label": 0},
    {"text_a": "okay", "label": 1},
]


@pytest.fixture()
def tokenizer():
    return tiny_roberta_tokenizer()


@pytest.fixture()
def decoder(tokenizer):
    return tiny_causal_lm("llama", vocab_size=len(tokenizer), max_positions=128)


def test_prompt_finetune_on_a_decoder_reads_the_next_token(tokenizer, decoder):
    config = mp.get_config(
        "prompt_finetune", template="{text_a} It was {mask}", label_words=[["terrible"], ["great"]]
    )
    model = mp.get_prompt_model(decoder, config, tokenizer=tokenizer)
    assert model.template.decoder
    batch = model.collator()(EXAMPLES)
    logits = model(**{k: v for k, v in batch.items() if k != "labels"})["logits"]
    words = model.verbalizer  # first sub-token of " terrible", and " great" (one token)
    first = [tokenizer(" terrible", add_special_tokens=False)["input_ids"][0]]
    first += tokenizer(" great", add_special_tokens=False)["input_ids"]
    for i, example in enumerate(EXAMPLES):
        ids = torch.tensor([model.template.encode(example, 128).input_ids])
        with torch.no_grad():
            ref = decoder(input_ids=ids).logits[0, -1, first]
        # the manual verbalizer is a log-softmax over the label words' logits
        torch.testing.assert_close(logits[i], ref.log_softmax(-1), atol=1e-5, rtol=1e-5)
    assert words.num_classes == 2
    # LM-BFF: the whole backbone trains
    loss = model(**batch)["loss"]
    loss.backward()
    assert decoder.model.layers[0].mlp.up_proj.weight.grad is not None


def test_decoder_needs_left_padded_answer_slot(tokenizer, decoder):
    template = Template("{text_a} It was {mask}", tokenizer, decoder=True)
    model = PromptForClassification(
        decoder, template, ManualVerbalizer(tokenizer, ["terrible", "great"])
    )
    batch = {
        "input_ids": torch.tensor([[5, 6, 7]]),
        "attention_mask": torch.ones(1, 3, dtype=torch.long),
        "mask_positions": torch.tensor([1]),
    }
    with pytest.raises(ValueError, match="pad on the left"):
        model(**batch)


def test_template_kind_must_match_the_backbone(tokenizer, decoder):
    masked = Template("{text_a} It was {mask} .", tokenizer, decoder=False)
    with pytest.raises(ValueError, match="Template\\(..., decoder=True\\)"):
        PromptForClassification(decoder, masked, ManualVerbalizer(tokenizer, ["bad", "great"]))
    from modalprompt.nlp.tiny_models import tiny_bert_tokenizer

    bert_tok = tiny_bert_tokenizer()
    as_decoder = Template("{text_a} it was {mask}", bert_tok, decoder=True)
    with pytest.raises(ValueError, match="decoder=False"):
        PromptForClassification(
            tiny_bert(), as_decoder, ManualVerbalizer(bert_tok, ["bad", "great"])
        )


def test_soft_verbalizer_and_soft_tokens_on_a_decoder(tokenizer, decoder):
    template = Template("{soft:It was} {text_a} so it was {mask}", tokenizer, decoder=True)
    model = PromptForClassification(
        decoder,
        template,
        SoftVerbalizer(tokenizer, ["terrible", "great"], decoder.get_output_embeddings().weight),
    )
    from modalprompt.nlp.classification import PromptCollator

    batch = PromptCollator(template, 64)(EXAMPLES)
    out = model(**batch)
    out["loss"].backward()
    assert model.soft_embeds.grad is not None and model.soft_embeds.grad.abs().sum() > 0
    assert all(p.grad is None for p in decoder.parameters())  # frozen backbone
    # each left-padded row equals the row alone
    for i in range(len(EXAMPLES)):
        alone = PromptCollator(template, 64)([EXAMPLES[i]])
        torch.testing.assert_close(
            model(**alone)["logits"][0], out["logits"][i], atol=1e-5, rtol=1e-5
        )
