"""PCP end to end on a handful of examples, each stage alone, pseudo-labels and bad input."""

import pytest
import torch

import modalprompt as mp
from modalprompt.core.config import ConfigError
from modalprompt.nlp.pcp.model import PCPModel
from modalprompt.nlp.pcp.pipeline import (
    load_backbone,
    prompt_finetune,
    pseudo_label,
    run_pcp,
    run_tapt,
)
from modalprompt.nlp.prompt_finetune.testing import TINY_EXAMPLES
from modalprompt.nlp.tiny_models import tiny_bert, tiny_bert_tokenizer

POOL = [
    {"text_a": "a good story"},
    {"text_a": "the worst acting"},
    {"text_a": "i hate this movie"},
    {"text_a": "wonderful fun film"},
    {"text_a": "terrible plot", "label": 1},  # a label in the pool is ignored
]
STAGES = {"pseudo_labeler", "pseudo_label", "continued_pretraining", "prompt_finetune"}


def _config(**overrides):
    base = {
        "template": "{text_a} it was {mask} .",
        "label_words": [["terrible"], ["great"]],
        "max_length": 24,
        "ft_steps": 4,
        "ft_batch_size": 4,
        "ft_eval_every": 2,
        "ft_lr": 1e-3,
        "mlm_max_steps": 3,
        "mlm_batch_size": 4,
        "mlm_grad_accumulation": 1,
    }
    return mp.get_config("pcp", **{**base, **overrides})


@pytest.fixture
def tiny():
    tok = tiny_bert_tokenizer()
    return tiny_bert(len(tok)), tok


def test_run_pcp_end_to_end(tiny, tmp_path):
    backbone, tok = tiny
    original = {k: v.clone() for k, v in backbone.state_dict().items()}
    result = run_pcp(
        backbone, tok, _config(), TINY_EXAMPLES, POOL, tmp_path, dev=TINY_EXAMPLES, device="cpu"
    )
    assert isinstance(result.model, PCPModel)
    assert set(result.stage_seconds) == STAGES
    assert all(t > 0 for t in result.stage_seconds.values())
    assert result.pseudo_labels.shape == (5,) and result.pseudo_probs.shape == (5, 2)
    words = ["terrible", "great"]
    expected = [
        f"{e['text_a']} it was {words[y]} ." for e, y in zip(POOL, result.pseudo_labels.tolist())
    ]
    assert result.corpus == expected
    assert result.mlm.steps == 3
    ckpt = result.checkpoint_dir
    assert ckpt == tmp_path / "pcp_checkpoint" and (ckpt / "model.safetensors").is_file()
    assert set(result.metrics) >= {"accuracy", "macro_f1"}
    # the user's backbone is never modified
    assert all(torch.equal(v, original[k]) for k, v in backbone.state_dict().items())
    probs = result.model.predict_proba(POOL[:2])
    assert probs.shape == (2, 2) and torch.allclose(probs.sum(-1), torch.ones(2))


def test_stage3_starts_from_the_stage2_checkpoint(tiny, tmp_path):
    """With a zero-step-like schedule (tiny lr), the stage-3 backbone is the checkpoint's."""
    backbone, tok = tiny
    result = run_tapt(
        backbone,
        tok,
        _config(ft_lr=1e-12, ft_steps=1),
        TINY_EXAMPLES,
        POOL,
        tmp_path,
        device="cpu",
    )
    assert result.corpus == [e["text_a"] for e in POOL] and result.pseudo_labels is None
    assert set(result.stage_seconds) == {"continued_pretraining", "prompt_finetune"}
    saved = load_backbone(result.checkpoint_dir).state_dict()
    tuned = result.model.backbone.state_dict()
    assert max((saved[k] - tuned[k]).abs().max().item() for k in saved) < 1e-6
    original = backbone.state_dict()
    assert any(not torch.equal(saved[k], original[k]) for k in saved)  # stage 2 trained


def test_pseudo_labels_count_shape_and_confidence(tiny):
    backbone, tok = tiny
    config = _config()
    model = prompt_finetune(load_backbone(backbone), tok, config, TINY_EXAMPLES, device="cpu")
    labels, probs, keep = pseudo_label(model, POOL, batch_size=2)
    assert labels.shape == (5,) and labels.dtype == torch.long
    assert probs.shape == (5, 2) and torch.allclose(probs.sum(-1), torch.ones(5))
    assert torch.equal(labels, probs.argmax(-1)) and bool(keep.all())
    _, _, strict = pseudo_label(model, POOL, min_confidence=1.0)
    assert int(strict.sum()) == int((probs.max(-1).values >= 1.0).sum())
    assert torch.equal(labels, pseudo_label(model, POOL, batch_size=5)[0])  # batch-independent


def test_bad_input(tiny, tmp_path):
    backbone, tok = tiny
    config = _config()
    with pytest.raises(ValueError, match="unlabeled: the pool is empty"):
        run_pcp(backbone, tok, config, TINY_EXAMPLES, [], tmp_path, device="cpu")
    with pytest.raises(ConfigError, match="exactly one \\{mask\\}"):
        _config(template="{text_a} it was great .")
    with pytest.raises(ValueError, match="train: examples \\[0\\]"):
        prompt_finetune(backbone, tok, config, [{"text_a": "a"}], device="cpu")
    with pytest.raises(ValueError, match="train: no examples given"):
        prompt_finetune(backbone, tok, config, [], device="cpu")
    with pytest.raises(TypeError, match="PCPConfig"):
        prompt_finetune(backbone, tok, mp.get_config("prompt_finetune"), TINY_EXAMPLES)
    with pytest.raises(ConfigError, match="mlm_betas"):
        _config(mlm_betas=[0.9, 1.5])


def test_run_pcp_on_real_sst2_with_tiny_roberta(shared_data, tmp_path):
    from modalprompt.nlp.datasets.lmbff import LMBFF_PROMPTS, load_lmbff, load_unlabeled
    from modalprompt.nlp.tiny_models import tiny_roberta, tiny_roberta_tokenizer

    root = shared_data / "text" / "lmbff"
    splits = load_lmbff(root, "SST-2", seed=13)
    pool = load_unlabeled(root, "SST-2")[:16]
    prompt = LMBFF_PROMPTS["SST-2"]
    tok = tiny_roberta_tokenizer()
    config = _config(
        template=prompt.template,
        label_words=[[w] for w in prompt.label_words],
        max_length=64,
        ft_batch_size=8,
    )
    result = run_pcp(
        tiny_roberta(len(tok)),
        tok,
        config,
        splits["train"],
        pool,
        tmp_path,
        dev=splits["dev"][:8],
        device="cpu",
    )
    assert len(splits["train"]) == 32 and result.pseudo_labels.shape == (16,)
    assert all(line.endswith((" It was terrible .", " It was great .")) for line in result.corpus)
    assert (result.checkpoint_dir / "model.safetensors").is_file()


def test_run_pcp_on_a_causal_lm_uses_next_token_stage2(tmp_path):
    """Issue 16: stage 2 on a decoder is language modelling over the wrapped line (label word
    in the answer slot, last); stage 3 reloads the checkpoint as a causal LM."""
    from modalprompt.nlp.tiny_models import tiny_causal_lm, tiny_roberta_tokenizer

    tok = tiny_roberta_tokenizer()
    torch.manual_seed(0)
    decoder = tiny_causal_lm("llama", vocab_size=len(tok), max_positions=128)
    config = _config(
        template="{text_a} It was {mask}", mlm_max_steps=6, mlm_batch_size=2, mlm_lr=3e-3
    )
    result = run_pcp(decoder, tok, config, TINY_EXAMPLES, POOL, tmp_path, device="cpu")
    words = ["terrible", "great"]
    assert result.corpus == [
        f"{e['text_a']} It was {words[y]}" for e, y in zip(POOL, result.pseudo_labels.tolist())
    ]
    assert len(result.mlm.losses) == 6 and result.mlm.losses[-1] < result.mlm.losses[0]
    assert type(result.model.backbone).__name__ == "LlamaForCausalLM"
    assert result.model.template.decoder
    assert type(load_backbone(result.checkpoint_dir)).__name__ == "LlamaForCausalLM"


def test_pcp_and_tapt_share_one_output_dir(tiny, tmp_path):
    backbone, tok = tiny
    config = _config(ft_steps=1, mlm_max_steps=1)
    run_pcp(backbone, tok, config, TINY_EXAMPLES, POOL, tmp_path, device="cpu")
    run_tapt(backbone, tok, config, TINY_EXAMPLES, POOL, tmp_path, device="cpu")
    for name in ("pcp", "tapt"):
        assert (tmp_path / f"{name}_phases" / "metrics.jsonl").is_file()
        assert (tmp_path / f"{name}_checkpoint" / "model.safetensors").is_file()
