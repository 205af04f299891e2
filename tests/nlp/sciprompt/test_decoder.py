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
        **{
            "template": "{text_a} It was {mask}",
            "label_words": TINY_TERMS,
            "label_word_scores": TINY_SCORES,
            "max_length": 64,
            **overrides,
        }
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


# ------------------------------------------------------------------ teacher-forced term scores
def _term_log_prob(model, ids: list[int], term: list[int]) -> float:
    """log p(term | ids) by running the whole sequence alone (teacher forcing, no cache)."""
    logits = model.backbone(input_ids=torch.tensor([ids + term])).logits[0]
    log_probs = torch.log_softmax(logits, -1)
    return sum(log_probs[len(ids) - 1 + j, t].item() for j, t in enumerate(term))


def _reference_logits(model, examples, prior=None):
    """SciPrompt's aggregation over exact term log-probabilities, computed row by row."""
    verbalizer = model.verbalizer
    out = []
    for example in examples:
        ids = model.template.encode(example, model.config.max_length).input_ids
        scores = torch.full(verbalizer.word_mask.shape, float("-inf"))
        for c, j in verbalizer.word_mask.nonzero().tolist():
            term = verbalizer.label_word_ids[c, j][verbalizer.token_mask[c, j]].tolist()
            scores[c, j] = _term_log_prob(model, ids, term)
        probs = scores.flatten().softmax(0).reshape(scores.shape)
        if prior is not None:
            probs = probs / (prior + 1e-15)
            probs = probs / probs.sum()
        out.append(verbalizer.aggregate(torch.log(probs + 1e-15).unsqueeze(0))[0])
    return torch.stack(out)


def test_teacher_forced_terms_equal_a_row_by_row_reference():
    model = _model(zero_shot=True, term_scoring="teacher_forced", calibrate=False).eval()
    assert any(
        int(model.verbalizer.token_mask[c, j].sum()) > 1
        for c, j in model.verbalizer.word_mask.nonzero().tolist()
    )  # multi-token terms are the point
    batch = model.collator()(TINY_EXAMPLES[:4])  # left-padded
    with torch.no_grad():
        logits = model(**_inputs(batch))["logits"]
        expected = _reference_logits(model, TINY_EXAMPLES[:4])
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=1e-4)


def test_teacher_forced_calibration_divides_by_the_support_sets_mean_term_distribution():
    model = _model(zero_shot=True, term_scoring="teacher_forced", candidate_frac=0.0).eval()
    support = DataLoader(TINY_EXAMPLES, batch_size=3, collate_fn=model.collator())
    model.calibrate(support)
    with torch.no_grad():
        per_example = [
            model._teacher_forced_term_probs(model.collator()([e]))[0] for e in TINY_EXAMPLES
        ]
    prior = torch.stack(per_example).mean(0)
    torch.testing.assert_close(model.verbalizer.calibration_probs, prior, atol=1e-5, rtol=1e-5)
    assert bool(model.verbalizer.calibrated)
    batch = model.collator()(TINY_EXAMPLES[:3])
    with torch.no_grad():
        logits = model(**_inputs(batch))["logits"]
        expected = _reference_logits(model, TINY_EXAMPLES[:3], prior)
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=1e-4)


def test_teacher_forced_scoring_is_refused_where_it_cannot_run():
    from modalprompt.core.config import ConfigError
    from modalprompt.nlp.tiny_models import tiny_roberta

    with pytest.raises(ConfigError, match=r"term_scoring: 'teacher_forced' .* zero_shot=False"):
        SciPromptConfig(label_words=TINY_TERMS, term_scoring="teacher_forced")
    with pytest.raises(ConfigError, match="term_scoring"):
        SciPromptConfig(label_words=TINY_TERMS, term_scoring="exact")
    tok = tiny_roberta_tokenizer()
    config = SciPromptConfig(
        template="{text_a} It was {mask} .",
        label_words=TINY_TERMS,
        zero_shot=True,
        term_scoring="teacher_forced",
    )
    with pytest.raises(ValueError, match=r"config.term_scoring: .* is a masked LM"):
        SciPromptModel(tiny_roberta(len(tok)), config, tokenizer=tok)


def test_teacher_forced_scoring_refuses_a_template_with_soft_tokens():
    with pytest.raises(
        ValueError,
        match=r"^config\.term_scoring: 'teacher_forced' runs the backbone on token ids; the "
        r"template has soft tokens \(remove them or use 'mask_logits'\)$",
    ):
        _model(
            template="{text_a} {soft} It was {mask}", term_scoring="teacher_forced", zero_shot=True
        )
    _model(template="{text_a} {soft} It was {mask}")  # the default scoring takes them
