"""Tiny random text models and tokenizers built in code (no download), for tests, examples and
the demo (not a test helper module: the examples and ``modalprompt.nlp.tasks``' procedural
tasks build on these models too).

The tokenizer helpers write a small vocabulary to a temporary folder and build the tokenizer
from it, so the whole text stack (templates, verbalizers, :class:`~modalprompt.nlp.classification.
PromptForClassification`) can be exercised offline in well under a second.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "TINY_WORDS",
    "tiny_bert",
    "tiny_bert_tokenizer",
    "word_piece_tokenizer",
    "tiny_roberta",
    "tiny_roberta_tokenizer",
    "tiny_bert_classifier",
    "tiny_causal_lm",
    "tiny_t5",
    "TINY_CAUSAL_ARCHS",
    "TINY_RELATION_WORDS",
    "tiny_relation_tokenizer",
    "tiny_relation_masked_lm",
]

TINY_CAUSAL_ARCHS = ("gpt2", "llama", "qwen2")

TINY_WORDS = (
    "the a an of is was it this that and but to in on for with not no yes maybe very so "
    "movie film story plot acting great good terrible bad okay fun boring awful wonderful "
    "love hate like best worst i you he she they think clearly yet correct incorrect "
    "case . , ? ! ' s ##s ##ing ##ed ##ly"
).split()


def word_piece_tokenizer(words: list[str] | tuple[str, ...]) -> Any:
    """A lower-casing WordPiece ``BertTokenizerFast`` whose vocabulary is the five BERT specials
    ([PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4) followed by ``words``."""
    from transformers import BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    # The fast tokenizer reads the vocabulary once at construction; the file is not kept.
    with tempfile.TemporaryDirectory(prefix="modalprompt-bert-vocab-") as folder:
        vocab_file = Path(folder) / "vocab.txt"
        vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
        return BertTokenizerFast(str(vocab_file), do_lower_case=True)


def tiny_bert_tokenizer() -> Any:
    """:func:`word_piece_tokenizer` over :data:`TINY_WORDS`."""
    return word_piece_tokenizer(TINY_WORDS)


def tiny_bert(
    vocab_size: int | None = None,
    seed: int = 0,
    hidden_size: int = 32,
    intermediate_size: int | None = None,
) -> Any:
    """A random 2-layer ``BertForMaskedLM`` (hidden 32, 2 heads), in eval mode.

    Args:
        vocab_size: vocabulary size; defaults to the size of :func:`tiny_bert_tokenizer`.
        seed: torch seed for the random initialisation.
        hidden_size: width of the model.
        intermediate_size: feed-forward width (default ``2 * hidden_size``).
    """
    from transformers import BertConfig, BertForMaskedLM

    if vocab_size is None:
        vocab_size = len(tiny_bert_tokenizer())
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=intermediate_size or 2 * hidden_size,
        max_position_embeddings=128,
    )
    return BertForMaskedLM(config).eval()


def tiny_roberta_tokenizer() -> Any:
    """A byte-level BPE ``RobertaTokenizerFast`` whose vocab is the 256 byte symbols + merges.

    Words are split into bytes except for a few merged words (" great", " terrible", ...), which
    is enough to test space-prefixed label words and multi-token label words.
    """
    from transformers import RobertaTokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    byte_syms = list(bytes_to_unicode().values())
    merges = [("Ġ", "g"), ("Ġg", "r"), ("Ġgr", "e"), ("Ġgre", "a"), ("Ġgrea", "t")]
    merged = [a + b for a, b in merges]
    vocab_list = [*specials, *byte_syms, *merged, "<mask>"]
    vocab = {tok: i for i, tok in enumerate(vocab_list)}
    # transformers 5.x takes the vocab dict and merges list directly (no files needed).
    return RobertaTokenizerFast(vocab=vocab, merges=merges)


def tiny_roberta(vocab_size: int | None = None, seed: int = 0) -> Any:
    """A random 2-layer ``RobertaForMaskedLM`` (hidden 32) for :func:`tiny_roberta_tokenizer`."""
    from transformers import RobertaConfig, RobertaForMaskedLM

    if vocab_size is None:
        vocab_size = len(tiny_roberta_tokenizer())
    torch.manual_seed(seed)
    config = RobertaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=160,
        pad_token_id=1,
    )
    return RobertaForMaskedLM(config).eval()


def tiny_bert_classifier(
    num_labels: int = 3, vocab_size: int | None = None, seed: int = 0, max_positions: int = 128
) -> Any:
    """A random 2-layer ``BertForSequenceClassification`` (hidden 32) for
    :func:`tiny_bert_tokenizer`, in eval mode."""
    from transformers import BertConfig, BertForSequenceClassification

    if vocab_size is None:
        vocab_size = len(tiny_bert_tokenizer())
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_positions,
        num_labels=num_labels,
    )
    return BertForSequenceClassification(config).eval()


def tiny_causal_lm(
    arch: str = "gpt2", vocab_size: int = 64, seed: int = 0, max_positions: int = 64
) -> Any:
    """A random 2-layer causal LM (hidden 32) of ``arch`` in :data:`TINY_CAUSAL_ARCHS`, eval mode.

    Token 0 is padding, 1 BOS and 2 EOS. Llama and Qwen2 use grouped-query attention (4 query,
    2 key/value heads).
    """
    import transformers

    torch.manual_seed(seed)
    special = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
    if arch == "gpt2":
        config = transformers.GPT2Config(
            vocab_size=vocab_size,
            n_embd=32,
            n_layer=2,
            n_head=2,
            n_positions=max_positions,
            **special,
        )
        return transformers.GPT2LMHeadModel(config).eval()
    if arch not in TINY_CAUSAL_ARCHS:
        raise ValueError(f"arch: got {arch!r}; expected one of {TINY_CAUSAL_ARCHS}")
    config_cls, model_cls = {
        "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
        "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
    }[arch]
    config = config_cls(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        tie_word_embeddings=False,
        **special,
    )
    return model_cls(config).eval()


def tiny_t5(vocab_size: int = 64, seed: int = 0) -> Any:
    """A random 2-layer ``T5ForConditionalGeneration`` (d_model 32), in eval mode (pad 0, EOS 1)."""
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=vocab_size,
        d_model=32,
        d_kv=16,
        d_ff=64,
        num_layers=2,
        num_heads=2,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    return T5ForConditionalGeneration(config).eval()


#: The words of the tiny relation-classification sentences (BayesPrompt / KnowPrompt).
TINY_RELATION_WORDS = (
    "the a of is was in by from cause effect entity origin destination component whole member "
    "collection water oven beer starches brewing poured produced went he she it they car engine "
    "virus fever tree forest message topic content container product producer instrument agency "
    "other has nothing to and with for . , on at"
).split()


def tiny_relation_tokenizer() -> Any:
    """A WordPiece BERT tokenizer over :data:`TINY_RELATION_WORDS` ([PAD] 0 ... [MASK] 4)."""
    return word_piece_tokenizer(TINY_RELATION_WORDS)


def tiny_relation_masked_lm(vocab_size: int, seed: int = 0) -> torch.nn.Module:
    """A random 2-layer BERT masked LM (hidden 32, feed-forward 37) for relation prompts."""
    return tiny_bert(vocab_size, seed, intermediate_size=37)
