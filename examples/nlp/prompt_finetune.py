"""Prompt-based fine-tuning (LM-BFF / PET): a template with a [MASK] and one label word per class.

The class logits are the masked LM's logits of the label words ("terrible" / "great") at the mask of
``"<sentence> it was [MASK] ."``; the whole model is fine-tuned with cross-entropy. Runs on a tiny
random BERT built in code, no download (Measured 2026-12-04 on 2 CPU cores (``OMP_NUM_THREADS=2``,
nothing else running): 5 s wall). With a real masked LM::

    from modalprompt.nlp.classification import load_masked_lm
    backbone, tokenizer = load_masked_lm("roberta-large")  # any local folder or hub name
    from modalprompt.nlp.datasets.lmbff import load_lmbff  # the LM-BFF 16-shot splits

    python examples/nlp/prompt_finetune.py
"""

import tempfile

import modalprompt as mp
from modalprompt.core.trainer import Trainer
from modalprompt.core.training_args import TrainingArguments
from modalprompt.nlp.tiny_models import tiny_bert, tiny_bert_tokenizer

train = [
    {"text_a": "a great movie", "label": 1},
    {"text_a": "the worst plot", "label": 0},
    {"text_a": "i love this film", "label": 1},
    {"text_a": "boring and awful acting", "label": 0},
    {"text_a": "very fun story", "label": 1},
    {"text_a": "bad , not good", "label": 0},
    {"text_a": "a wonderful film", "label": 1},
    {"text_a": "i hate the acting", "label": 0},
]
test = [{"text_a": "a fun and wonderful story"}, {"text_a": "awful , boring plot"}]

tokenizer = tiny_bert_tokenizer()
backbone = tiny_bert(len(tokenizer))
config = mp.get_config(
    "prompt_finetune",
    template="{text_a} it was {mask} .",  # LM-BFF's SST-2 template
    label_words=[["terrible"], ["great"]],  # one list per class, in label order
    max_length=32,
)
model = mp.get_prompt_model(backbone, config, tokenizer=tokenizer)
model.print_trainable_parameters()  # the whole masked LM trains (freeze_backbone=False)

args = TrainingArguments(
    max_steps=60, batch_size=4, lr=1e-3, eval_strategy="no", verbose=False, tensorboard=False
)
Trainer(model, args, train_data=train, collate_fn=model.collator()).fit()

probs = model.predict_proba(test)  # (N, C), eval mode
for example, p in zip(test, probs):
    print(f"{example['text_a']!r}: P(great) = {p[1]:.2f}")

with tempfile.TemporaryDirectory() as folder:  # safetensors + config.json
    model.save_pretrained(folder)
    again = type(model).from_pretrained(tiny_bert(len(tokenizer)), folder, tokenizer=tokenizer)
    print("reloaded model agrees:", bool((again.predict_proba(test) - probs).abs().max() < 1e-5))
