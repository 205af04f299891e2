"""Soft-prompt methods on real text: EPT vs prompt tuning, IAPT vs prompt tuning, multi-tenancy.

The only pre-trained text model available offline is all-MiniLM-L6-v2 (``../shared/MODELS.md``),
a 6-layer BERT encoder (hidden 384) without an MLM head. It is used as a
``BertForSequenceClassification`` whose new linear head reads the masked mean of the last hidden
states (virtual tokens included) instead of the pooler: MiniLM was trained for mean pooling, and
a linear probe on its [CLS] state or pooler is at chance on SST-2 (on the mean: ~65%). The encoder
is frozen; the head is trained with every method (its 770 parameters are not counted in the
budgets below).

Sections:

1. Accuracy on LM-BFF 16-shot splits (SST-2 and CR, split seeds 13/21/42; ``--quick``: SST-2,
   seed 13), test accuracy mean ± std over seeds, the state kept by dev accuracy:
   * EPT vs vanilla prompt tuning at an equal parameter budget (PT with 40 tokens = 15,360
     parameters; EPT with a 10-token short prompt, fusion, 2 subspaces of rank 2 and the offset
     rank that fills the rest of the budget, ``EptConfig.for_budget``);
   * IAPT (4 generated tokens per layer) vs prompt tuning with 20 tokens.
   Inputs are padded to exactly 48 tokens (EPT's offset is position-wise; 95% of SST-2/CR test
   sentences fit) for every method, so the step times compare like with like.
2. Training step time (forward + backward + AdamW step, batch 8, the same inputs) as a ratio to
   PEFT's prompt tuning (``get_peft_model`` with ``PROMPT_TUNING``, 40 tokens, on the same
   backbone) and to the frozen backbone's own forward + backward (no prompt; gradient to the
   input embeddings), all measured interleaved in one run (median of rounds). EPT's paper claims
   14% less training time than prompt tuning (T5, 100 vs 60 tokens at 256).
3. Multi-tenant generation: 8 tenants in one batch of 16 left-padded rows, greedy, on a small
   *random* Llama (4 layers, hidden 128; no pre-trained decoder is available, so only throughput
   is meaningful): ours (:class:`~modalprompt.nlp.multitenant.MultiTenantPromptModel`, one 20-token
   prompt per tenant, or one IAPT model with 4 tokens per layer per tenant) vs PEFT LoRA (rank 8
   on q/v, 8 adapters, ``adapter_names`` in ``generate``), tokens/s and ratios, with the plain
   backbone as the reference.

The schedules are far shorter than the papers' (60 steps here vs tens of thousands) so that the
full run ends in under 30 minutes on 2 CPU cores; test sets are fixed random subsets (sizes
printed). Learning rates are ours (no tuning): AdamW 2e-2 for prompts and heads, EPT's low-rank
parts at 5e-3 (DePT's low-rank rate), IAPT's generators at 3e-3.

usage: OMP_NUM_THREADS=1 python benchmarks/text_soft.py [--quick] [--data DIR]
       (or: modalprompt bench text_soft [--quick])
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from _report import spread, subset
from torch import nn
from torch.nn import functional as F

import modalprompt as mp
from modalprompt.core.pretrained import minilm_path
from modalprompt.nlp.datasets.lmbff import load_lmbff
from modalprompt.nlp.ept.config import EptConfig
from modalprompt.nlp.mean_pooling import MeanPoolBertForSequenceClassification
from modalprompt.nlp.multitenant import MultiTenantPromptModel

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "text"
MAX_LENGTH = 48
HIDDEN = 384
PT_BUDGET = 40  # tokens of the vanilla prompt EPT is sized against
LR, LOW_RANK_LR, GENERATOR_LR = 2e-2, 5e-3, 3e-3
BATCH = 8


# ----------------------------------------------------------------------------------- helpers


def load_minilm() -> tuple[nn.Module, Any]:
    """MiniLM as a frozen mean-pooling sequence classifier (2 labels, new head) + tokenizer."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the "MISSING classifier.*" report is expected
    path = minilm_path()
    torch.manual_seed(0)
    model = MeanPoolBertForSequenceClassification.from_pretrained(path, num_labels=2)
    return model.eval().requires_grad_(False), AutoTokenizer.from_pretrained(path)


def encode(tokenizer: Any, examples: list[dict]) -> dict[str, torch.Tensor]:
    enc = tokenizer(
        [e["text_a"] for e in examples],
        padding="max_length",
        truncation=True,
        max_length=MAX_LENGTH,
        return_tensors="pt",
    )
    return {
        "input_ids": enc["input_ids"],
        "attention_mask": enc["attention_mask"],
        "token_type_ids": enc["token_type_ids"],
        "labels": torch.tensor([e["label"] for e in examples]),
    }


def rows(data: dict[str, torch.Tensor], index) -> dict[str, torch.Tensor]:
    return {k: v[index] for k, v in data.items()}


def n_prompt_params(model: nn.Module) -> int:
    """Trainable parameters without the classification head."""
    head = {id(p) for p in model.head.parameters()} if getattr(model, "head", None) else set()
    return sum(p.numel() for p in model.parameters() if p.requires_grad and id(p) not in head)


# ------------------------------------------------------------------------------------ methods
def build(method: str, backbone: nn.Module, seed: int) -> tuple[nn.Module, list[dict]]:
    """The prompt model of ``method`` on ``backbone`` and its AdamW parameter groups."""
    common = {"task": "classification", "seed": seed}
    if method in ("pt40", "pt20"):
        n = int(method[2:])
        config = mp.get_config("prompt_tuning", num_virtual_tokens=n, init="vocab", **common)
        model = mp.get_prompt_model(backbone, config)
        return model, [{"params": [p for p in model.parameters() if p.requires_grad], "lr": LR}]
    if method == "ept":
        config = EptConfig.for_budget(
            HIDDEN,
            PT_BUDGET,
            num_virtual_tokens=10,
            max_length=MAX_LENGTH,
            num_spaces=2,
            space_rank=2,
            init="vocab",
            low_rank_lr_scale=LOW_RANK_LR / LR,
            **common,
        )
        model = mp.get_prompt_model(backbone, config)
        groups = [
            {"params": g["params"], "lr": LR * g.get("lr_scale", 1.0)} for g in model.param_groups()
        ]
        return model, groups
    if method == "iapt":
        model = mp.get_prompt_model(backbone, mp.get_config("iapt", **common))
        head = [p for p in model.head.parameters()]
        return model, [
            {"params": list(model.generators.parameters()), "lr": GENERATOR_LR},
            {"params": head, "lr": LR},
        ]
    raise ValueError(method)


LABELS = {
    "pt40": f"prompt tuning, {PT_BUDGET} tokens",
    "ept": f"EPT at the PT-{PT_BUDGET} budget",
    "pt20": "prompt tuning, 20 tokens",
    "iapt": "IAPT, 4 tokens per layer",
}


def logits_of(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    return model(**inputs)


@torch.no_grad()
def accuracy(model: nn.Module, data: dict[str, torch.Tensor], batch_size: int = 64) -> float:
    model.eval()
    correct = 0
    total = len(data["labels"])
    for start in range(0, total, batch_size):
        batch = rows(data, slice(start, start + batch_size))
        correct += int((logits_of(model, batch).argmax(-1) == batch["labels"]).sum())
    return correct / total


def fit(
    method: str,
    base: nn.Module,
    train: dict,
    dev: dict,
    test: dict,
    epochs: int,
    seed: int,
) -> tuple[float, int]:
    """Train ``method`` for ``epochs`` on a copy of ``base``; test accuracy of the state with the
    best dev accuracy (checked every 2 epochs) and the number of prompt parameters."""
    torch.manual_seed(seed)
    model, groups = build(method, copy.deepcopy(base), seed)
    optimizer = torch.optim.AdamW(groups, weight_decay=0.0)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    order = torch.Generator().manual_seed(seed)
    best, best_state = -1.0, None
    for epoch in range(epochs):
        model.train()
        model.backbone.eval()  # dropout off in the frozen backbone
        for index in torch.randperm(len(train["labels"]), generator=order).split(BATCH):
            batch = rows(train, index)
            loss = F.cross_entropy(logits_of(model, batch), batch["labels"])
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for _, p in trainable], 1.0)
            optimizer.step()
            optimizer.zero_grad()
        if (epoch + 1) % 2 == 0 or epoch + 1 == epochs:
            score = accuracy(model, dev)
            if score >= best:
                best, best_state = score, {n: p.detach().clone() for n, p in trainable}
    with torch.no_grad():
        for n, p in trainable:
            p.copy_(best_state[n])
    return accuracy(model, test), n_prompt_params(model)


def accuracy_section(quick: bool, data: Path, base: nn.Module, tokenizer: Any) -> None:
    root = data / "lmbff" / "k-shot"
    if not root.is_dir():
        raise SystemExit(f"--data: {root} not found (LM-BFF k-shot splits are needed)")
    tasks = ["SST-2"] if quick else ["SST-2", "cr"]
    seeds = [13] if quick else [13, 21, 42]
    epochs = 6 if quick else 15
    test_size = 160 if quick else 300
    methods = ["pt40", "ept", "pt20", "iapt"]
    print(
        f"\n1. LM-BFF 16-shot, MiniLM (frozen) + new head, inputs padded to {MAX_LENGTH}; "
        f"{epochs} epochs x {32 // BATCH} steps of batch {BATCH}; split seeds {seeds}; "
        f"test: a fixed subset of {test_size}"
    )
    results: dict[tuple[str, str], list[float]] = {}
    params: dict[str, int] = {}
    for task in tasks:
        for seed in seeds:
            split = load_lmbff(root, task, seed=seed)
            train, dev = encode(tokenizer, split["train"]), encode(tokenizer, split["dev"])
            test = encode(tokenizer, subset(split["test"], test_size))
            for method in methods:
                start = time.perf_counter()
                acc, params[method] = fit(method, base, train, dev, test, epochs, seed)
                results.setdefault((task, method), []).append(acc)
                print(
                    f"   {task:5s} seed {seed:3d} {method:5s} acc {100 * acc:5.1f} "
                    f"({time.perf_counter() - start:.0f} s)",
                    flush=True,
                )
    header = f"   {'method':34s} {'params':>8s}" + "".join(f" {t:>13s}" for t in tasks)
    print("\n" + header)
    for method in methods:
        cells = "".join(f" {spread(results[(t, method)]):>13s}" for t in tasks)
        print(f"   {LABELS[method]:34s} {params[method]:8,d}{cells}")
    for a, b in (("ept", "pt40"), ("iapt", "pt20")):
        gaps = [statistics.mean(results[(t, a)]) - statistics.mean(results[(t, b)]) for t in tasks]
        print(
            f"   {a} - {b}: "
            + ", ".join(f"{t} {100 * g:+.1f} points" for t, g in zip(tasks, gaps, strict=True))
        )


# -------------------------------------------------------------------------------- step times
def timing_section(quick: bool, base: nn.Module, tokenizer: Any, data: Path) -> None:
    from peft import PromptTuningConfig, TaskType, get_peft_model

    split = load_lmbff(data / "lmbff" / "k-shot", "SST-2", seed=13)
    batch = rows(encode(tokenizer, split["train"]), slice(0, BATCH))
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    steps: dict[str, Any] = {}

    # the frozen backbone alone: forward + backward to the input embeddings
    reference = copy.deepcopy(base)
    embed = reference.get_input_embeddings()

    def backbone_step() -> None:
        x = embed(inputs["input_ids"]).detach().requires_grad_(True)
        out = reference(
            inputs_embeds=x,
            attention_mask=inputs["attention_mask"],
            token_type_ids=inputs["token_type_ids"],
        )
        F.cross_entropy(out.logits, batch["labels"]).backward()

    steps["backbone fwd+bwd (no prompt)"] = backbone_step

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peft_model = get_peft_model(
            copy.deepcopy(base),
            PromptTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=PT_BUDGET),
        )
    peft_opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], LR)

    def peft_step() -> None:
        peft_model(**batch).loss.backward()
        peft_opt.step()
        peft_opt.zero_grad()

    steps[f"PEFT prompt tuning, {PT_BUDGET} tokens"] = peft_step

    def make_step(method: str):
        model, groups = build(method, copy.deepcopy(base), 0)
        model.train()
        model.backbone.eval()
        optimizer = torch.optim.AdamW(groups)

        def step() -> None:
            F.cross_entropy(logits_of(model, batch), batch["labels"]).backward()
            optimizer.step()
            optimizer.zero_grad()

        return step

    for method in ("pt40", "ept", "pt20", "iapt"):
        steps[f"ours: {LABELS[method]}"] = make_step(method)

    rounds = 4 if quick else 12
    times: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():  # warm-up
        step()
    for _ in range(rounds):  # interleaved, so load from other processes hits all alike
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            step()
            times[name].append((time.perf_counter() - start) / 2)
    med = {name: statistics.median(t) for name, t in times.items()}
    ref = med["backbone fwd+bwd (no prompt)"]
    peft_ref = med[f"PEFT prompt tuning, {PT_BUDGET} tokens"]
    print(
        f"\n2. Training step time, MiniLM, batch {BATCH} x {MAX_LENGTH} tokens (median of "
        f"{rounds} interleaved rounds of 2 steps)"
    )
    print(f"   {'':38s} {'ms/step':>8s} {'/ PEFT PT-40':>13s} {'/ backbone':>11s}")
    for name, value in med.items():
        print(f"   {name:38s} {1000 * value:8.0f} {value / peft_ref:12.2f}x {value / ref:10.2f}x")
    ept = med[f"ours: {LABELS['ept']}"]
    print(
        f"   EPT vs PEFT PT-{PT_BUDGET}: {100 * (1 - ept / peft_ref):.0f}% less time per step "
        "(paper: 14% less training time)"
    )


# ------------------------------------------------------------------------ multi-tenant serving
def small_llama() -> nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=512,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config).eval().requires_grad_(False)


def generation_section(quick: bool) -> None:
    from peft import LoraConfig, get_peft_model

    tenants, per_tenant, prompt_len, new = 8, 2, 32, 32
    names = [f"t{i}" for i in range(tenants)] * per_tenant
    g = torch.Generator().manual_seed(0)
    batch = len(names)
    ids = torch.randint(3, 512, (batch, prompt_len), generator=g)
    mask = torch.ones_like(ids)
    for row in range(batch):  # left padding, 16-32 real tokens
        pad = int(torch.randint(0, prompt_len // 2, (1,), generator=g))
        ids[row, :pad], mask[row, :pad] = 0, 0
    kw = {
        "max_new_tokens": new,
        "min_new_tokens": new,
        "do_sample": False,
        "pad_token_id": 0,
    }

    ours_backbone = small_llama()
    server = MultiTenantPromptModel(
        {
            name: mp.get_prompt_model(
                ours_backbone,
                mp.get_config("prompt_tuning", num_virtual_tokens=20, seed=i),
            )
            for i, name in enumerate(dict.fromkeys(names))
        }
    ).eval()
    iapt_backbone = small_llama()
    iapt_server = MultiTenantPromptModel(
        {
            name: mp.get_prompt_model(iapt_backbone, mp.get_config("iapt", seed=i))
            for i, name in enumerate(dict.fromkeys(names))
        }
    ).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lora = get_peft_model(
            small_llama(),
            LoraConfig(r=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
            adapter_name="t0",
        )
        for name in list(dict.fromkeys(names))[1:]:
            lora.add_adapter(name, LoraConfig(r=8, target_modules=["q_proj", "v_proj"]))
    lora.eval()
    plain = small_llama()

    runs = {
        "backbone alone (no adapters)": lambda: plain.generate(
            input_ids=ids, attention_mask=mask, **kw
        ),
        "ours: MultiTenantPromptModel (PT-20)": lambda: server.generate(
            ids, names, attention_mask=mask, **kw
        ),
        "ours: MultiTenantPromptModel (IAPT-4)": lambda: iapt_server.generate(
            ids, names, attention_mask=mask, **kw
        ),
        "PEFT LoRA r=8, adapter_names": lambda: lora.generate(
            input_ids=ids, attention_mask=mask, adapter_names=names, **kw
        ),
    }
    rounds = 3 if quick else 8
    times: dict[str, list[float]] = {name: [] for name in runs}
    with torch.no_grad():
        for run in runs.values():
            out = run()
            assert out.shape[1] == prompt_len + new, out.shape
        for _ in range(rounds):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    tokens = batch * new
    rate = {name: tokens / statistics.median(t) for name, t in times.items()}
    base_rate = rate["backbone alone (no adapters)"]
    lora_rate = rate["PEFT LoRA r=8, adapter_names"]
    print(
        f"\n3. Multi-tenant generation: {tenants} tenants x {per_tenant} rows in one batch, "
        f"{prompt_len}-token left-padded inputs, {new} new tokens (greedy); random Llama "
        f"4 x 128 (median of {rounds} rounds)"
    )
    print(f"   {'':38s} {'tokens/s':>9s} {'/ backbone':>11s} {'/ PEFT LoRA':>12s}")
    for name, value in rate.items():
        print(f"   {name:38s} {value:9.0f} {value / base_rate:10.2f}x {value / lora_rate:11.2f}x")


# ---------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one task, one seed, short runs")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the text/ data folder")
    parser.add_argument(
        "--sections", default="1,2,3", help="comma-separated sections to run (default 1,2,3)"
    )
    args = parser.parse_args()
    sections = {s.strip() for s in args.sections.split(",")}
    torch.manual_seed(0)
    start = time.perf_counter()
    base, tokenizer = load_minilm()
    print(
        f"MiniLM-L6 (hidden {HIDDEN}), torch threads {torch.get_num_threads()}"
        + (", --quick" if args.quick else "")
    )
    if "1" in sections:
        accuracy_section(args.quick, args.data, base, tokenizer)
    if "2" in sections:
        timing_section(args.quick, base, tokenizer, args.data)
    if "3" in sections:
        generation_section(args.quick)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
