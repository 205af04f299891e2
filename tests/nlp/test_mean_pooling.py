"""The mean-pooled classifier: same weights and head as the stock class, reading the masked mean."""

import torch

import modalprompt as mp
from modalprompt.nlp.mean_pooling import MeanPoolBertForSequenceClassification, mean_pooled
from modalprompt.nlp.tiny_models import tiny_bert_classifier


def _tiny(num_labels: int = 3) -> MeanPoolBertForSequenceClassification:
    stock = tiny_bert_classifier(num_labels=num_labels)
    model = MeanPoolBertForSequenceClassification(stock.config).eval()
    model.load_state_dict(stock.state_dict())  # identical names: checkpoints load either way
    return model


def test_head_reads_the_masked_mean_and_ignores_padding():
    model = _tiny()
    ids = torch.tensor([[5, 6, 7, 0], [5, 6, 7, 8]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    out = model(input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 2]))
    hidden = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state
    expected = model.classifier(hidden[0, :3].mean(0))
    torch.testing.assert_close(out.logits[0], expected)
    torch.testing.assert_close(mean_pooled(hidden, mask)[1], hidden[1].mean(0))
    assert out.loss is not None and out.loss.ndim == 0
    alone = model(input_ids=ids[:1, :3], attention_mask=mask[:1, :3]).logits
    torch.testing.assert_close(alone[0], out.logits[0], atol=1e-5, rtol=1e-5)


def test_prompt_tuning_trains_through_it():
    model = _tiny(2)
    config = mp.get_config("prompt_tuning", task="classification", num_virtual_tokens=3)
    tuned = mp.get_prompt_model(model, config)
    batch = {
        "input_ids": torch.tensor([[5, 6, 7], [8, 9, 10]]),
        "attention_mask": torch.ones(2, 3, dtype=torch.long),
        "labels": torch.tensor([0, 1]),
    }
    loss = tuned.training_step(batch)["loss"]
    loss.backward()
    assert tuned.prompt_embeddings.grad is not None
    assert tuned.prompt_embeddings.grad.abs().sum() > 0
