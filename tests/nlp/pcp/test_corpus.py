"""PCP / TAPT corpora: the template table of the brief (§4.3) and bad input."""

import pytest
import torch

from modalprompt.nlp.datasets.lmbff import LMBFF_PROMPTS, load_unlabeled
from modalprompt.nlp.pcp.corpus import build_pcp_corpus, build_tapt_corpus
from modalprompt.nlp.templates import Template
from modalprompt.nlp.tiny_models import tiny_bert_tokenizer, tiny_roberta_tokenizer

X1, X2 = "the plot was fun .", "it is a good film ."

# brief §4.3 / src/convert_to_pretrain_pcp.py: pieces joined by single spaces
TABLE = [
    ("{text_a} It was {mask} .", 1, ["terrible", "great"], f"{X1} It was great ."),
    ("{text_a} is {mask} .", 0, ["negative", "positive"], f"{X1} is negative ."),
    ("{text_a} This is {mask} .", 1, ["subjective", "objective"], f"{X1} This is objective ."),
    ("{mask} : {text_a}", 3, ["Description", "Entity", "Expression", "Human"], f"Human : {X1}"),
    ("{text_a} This is {mask}", 0, ["incorrect", "correct"], f"{X1} This is incorrect"),
    ("{text_a} {mask} , {text_b}", 1, ["No", "Yes"], f"{X1} Yes , {X2}"),
    ("{text_a} ? {mask} , {text_b}", 2, ["No", "Yes", "Maybe"], f"{X1} ? Maybe , {X2}"),
    (
        "{text_a} . {mask} , in this case {text_b}",
        0,
        ["No", "Yes", "Maybe"],
        f"{X1} . No , in this case {X2}",
    ),
    (
        "{text_a} . {mask} , I think that {text_b}",
        0,
        ["Clearly", "Yet"],
        f"{X1} . Clearly , I think that {X2}",
    ),
]


@pytest.mark.parametrize("tokenizer", [tiny_bert_tokenizer, tiny_roberta_tokenizer])
@pytest.mark.parametrize(("template", "label", "words", "expected"), TABLE)
def test_pcp_corpus_matches_template_table(tokenizer, template, label, words, expected):
    tmpl = Template(template, tokenizer())
    lines = build_pcp_corpus([{"text_a": X1, "text_b": X2}], [label], tmpl, words)
    assert lines == [expected]


def test_pcp_corpus_equals_official_join_on_lmbff_prompts():
    """Every LM-BFF task prompt of the library wraps as the official space-join does."""
    tok = tiny_bert_tokenizer()
    for task, prompt in LMBFF_PROMPTS.items():
        tmpl = Template(prompt.template, tok)
        ex = {"text_a": X1, "text_b": X2 if prompt.pair else None}
        for y, word in enumerate(prompt.label_words):
            pieces = prompt.template.replace("{mask}", word).split()
            official = " ".join(
                {"{text_a}": X1, "{text_b}": ex["text_b"]}.get(p, p) for p in pieces
            )
            assert build_pcp_corpus([ex], torch.tensor([y]), tmpl, prompt.label_words) == [
                official
            ], task


def test_multi_word_classes_use_first_word_and_tensor_labels():
    tmpl = Template("{text_a} It was {mask} .", tiny_bert_tokenizer())
    pool = [{"text_a": "a"}, {"text_a": "b"}, {"text_a": "c"}]
    lines = build_pcp_corpus(pool, torch.tensor([1, 0, 1]), tmpl, [["bad", "awful"], ["good"]])
    assert lines == ["a It was good .", "b It was bad .", "c It was good ."]


def test_tapt_corpus_plain_text():
    pool = [{"text_a": X1, "text_b": None}, {"text_a": X1, "text_b": X2}]
    assert build_tapt_corpus(pool) == [X1, f"{X1} {X2}"]


def test_real_sst2_pool(shared_data):
    pool = load_unlabeled(shared_data / "text" / "lmbff", "SST-2")[:5]
    prompt = LMBFF_PROMPTS["SST-2"]
    tmpl = Template(prompt.template, tiny_roberta_tokenizer())
    lines = build_pcp_corpus(pool, [0, 1, 0, 1, 1], tmpl, prompt.label_words)
    assert len(lines) == 5
    assert lines[0] == f"{pool[0]['text_a']} It was terrible ."
    assert lines[1] == f"{pool[1]['text_a']} It was great ."


def test_bad_input_errors():
    tok = tiny_bert_tokenizer()
    tmpl = Template("{text_a} It was {mask} .", tok)
    with pytest.raises(ValueError, match="unlabeled: the pool is empty"):
        build_pcp_corpus([], [], tmpl, ["bad", "good"])
    with pytest.raises(ValueError, match="unlabeled: the pool is empty"):
        build_tapt_corpus([])
    with pytest.raises(ValueError, match="exactly one \\{mask\\}"):
        Template("{text_a} It was great .", tok)
    with pytest.raises(ValueError, match="one label per example"):
        build_pcp_corpus([{"text_a": "a"}], [0, 1], tmpl, ["bad", "good"])
    with pytest.raises(ValueError, match="not class indices"):
        build_pcp_corpus([{"text_a": "a"}], [2], tmpl, ["bad", "good"])
    with pytest.raises(ValueError, match=r"unlabeled\[0\]"):
        build_pcp_corpus([{"text": "a"}], [0], tmpl, ["bad", "good"])
    with pytest.raises(TypeError, match="Template"):
        build_pcp_corpus([{"text_a": "a"}], [0], "{text_a} It was {mask} .", ["bad", "good"])
