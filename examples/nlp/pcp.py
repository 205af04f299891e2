"""PCP: prompt-based continued pre-training (Shi & Lipani, NeurIPS 2023), all three stages.

1. prompt-based fine-tuning on the few labelled examples, then pseudo-labels for the pool; 2. the
pool wrapped in the template with the predicted label word ("... it was great .") and masked-LM
continued pre-training on those lines (saved with ``save_pretrained``); 3. prompt-based fine-tuning
again, from that checkpoint. ``run_tapt`` is the TAPT baseline (continued pre-training on the plain
texts). Runs on a tiny random BERT built in code (Measured 2026-12-04 on 2 CPU cores
(``OMP_NUM_THREADS=2``, nothing else running): 7 s wall); with real data use ``load_lmbff`` /
``load_unlabeled`` from ``modalprompt.nlp.datasets.lmbff`` and a real language model
(benchmarks/text_mlm.py and examples/nlp/llm_pcp.py do, with SmolLM2-135M-Instruct).

    python examples/nlp/pcp.py
"""

import tempfile

import modalprompt as mp
from modalprompt.nlp.pcp.pipeline import run_pcp, run_tapt
from modalprompt.nlp.tiny_models import tiny_bert, tiny_bert_tokenizer

train = [
    {"text_a": "a great movie", "label": 1},
    {"text_a": "the worst plot", "label": 0},
    {"text_a": "i love this film", "label": 1},
    {"text_a": "boring and awful acting", "label": 0},
    {"text_a": "very fun story", "label": 1},
    {"text_a": "bad , not good", "label": 0},
]
dev = [{"text_a": "a wonderful film", "label": 1}, {"text_a": "i hate the acting", "label": 0}]
unlabeled = [  # the task's unlabelled pool ("label" would be ignored)
    {"text_a": t}
    for t in [
        "a good story",
        "the worst acting",
        "i hate this movie",
        "wonderful fun film",
        "terrible plot",
        "i like the acting very much",
        "an awful , boring film",
        "the best movie",
    ]
]

tokenizer = tiny_bert_tokenizer()
backbone = tiny_bert(len(tokenizer))  # never modified: every stage works on a copy
config = mp.get_config(
    "pcp",
    template="{text_a} it was {mask} .",
    label_words=[["terrible"], ["great"]],
    max_length=32,
    # the official schedules are 1000 fine-tuning steps and 100 MLM epochs; a toy run here
    ft_steps=60,
    ft_batch_size=4,
    ft_eval_every=60,
    ft_lr=3e-3,
    mlm_max_steps=10,
    mlm_batch_size=4,
    mlm_grad_accumulation=1,
)

with tempfile.TemporaryDirectory() as out:
    pcp = run_pcp(backbone, tokenizer, config, train, unlabeled, out, dev=dev, device="cpu")
    print("PCP corpus (pseudo-labelled, template-wrapped):")
    for line in pcp.corpus[:4]:
        print("  ", line)
    print(f"MLM loss {pcp.mlm.losses[0]:.3f} -> {pcp.mlm.losses[-1]:.3f} in {pcp.mlm.steps} steps")
    print("stage seconds:", {k: round(v, 2) for k, v in pcp.stage_seconds.items()})
    print("PCP dev metrics:", pcp.metrics)
    print("checkpoint:", sorted(p.name for p in pcp.checkpoint_dir.iterdir()))

    tapt = run_tapt(backbone, tokenizer, config, train, unlabeled, out, dev=dev, device="cpu")
    print("TAPT corpus line:", tapt.corpus[0], "| dev metrics:", tapt.metrics)

probs = pcp.model.predict_proba(
    [{"text_a": "a fun , wonderful film"}, {"text_a": "the worst plot"}]
)
print("P(great):", [round(p, 2) for p in probs[:, 1].tolist()])
