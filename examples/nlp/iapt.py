"""IAPT on a decoder: instruction-aware soft tokens, trained on a toy task, KV-cache generation.

No pre-trained decoder is available offline, so the backbone is a small *random* Llama (2
layers, hidden 64, grouped-query attention), frozen; it is initialised with std 0.2 instead of
0.02, because a random LM head at std 0.02 gives logits within ±0.6 that no prompt can move far.
The toy task needs the instruction: each instruction is ``<bos> k x1 .. xj`` with a "command"
token ``k`` in 3..6 and filler tokens; the answer is token ``10 + k``, then ``<eos>``.
Only IAPT's per-layer generators (and nothing of the backbone) learn to answer it; vanilla
prompt tuning with the same 4 tokens is trained alongside for contrast.

Shows: ``instruction_mask`` (the generators read only the instruction; the response is not leaked,
and the loss is on the response only), left padding, and ``generate()`` with the KV cache (the
generators run once, at prefill) giving the same tokens as without it. Measured 2026-12-04 on 2 CPU
cores (``OMP_NUM_THREADS=2``, nothing else running): 19 s wall:

    OMP_NUM_THREADS=1 python examples/nlp/iapt.py
"""

import torch
from transformers import LlamaConfig, LlamaForCausalLM

import modalprompt as mp

PAD, BOS, EOS = 0, 1, 2
torch.manual_seed(0)


def instructions(n: int, generator: torch.Generator) -> tuple[list[list[int]], torch.Tensor]:
    """``n`` instructions of 3-8 tokens and their command tokens."""
    commands = torch.randint(3, 7, (n,), generator=generator)
    out = []
    for k in commands.tolist():
        filler = torch.randint(20, 64, (int(torch.randint(1, 7, (1,), generator=generator)),))
        out.append([BOS, k, *filler.tolist()])
    return out, commands


def left_pad(sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, sequences))
    ids = torch.full((len(sequences), width), PAD)
    mask = torch.zeros_like(ids)
    for row, seq in enumerate(sequences):
        ids[row, width - len(seq) :] = torch.tensor(seq)
        mask[row, width - len(seq) :] = 1
    return ids, mask


def training_batch(n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Instruction + answer + <eos>, left-padded; loss and generators see the right parts."""
    prompts, commands = instructions(n, generator)
    full = [p + [10 + k, EOS] for p, k in zip(prompts, commands.tolist(), strict=True)]
    ids, mask = left_pad(full)
    instruction = mask.clone()
    instruction[:, -2:] = 0  # the last two tokens (answer, <eos>) are the response
    labels = torch.where(instruction.bool() | ~mask.bool(), -100, ids)
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "instruction_mask": instruction,
        "labels": labels,
    }


def small_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        tie_word_embeddings=False,
        pad_token_id=PAD,
        bos_token_id=BOS,
        eos_token_id=EOS,
        initializer_range=0.2,
    )
    return LlamaForCausalLM(config).eval()


def train(model, steps: int = 400, uses_instruction_mask: bool = True):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    model.train()
    for step in range(steps):
        batch = training_batch(32, g)
        if not uses_instruction_mask:
            batch.pop("instruction_mask")
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step % 100 == 0 or step == steps - 1:
            print(f"  step {step:3d}: response loss {loss.item():.3f}")
    return model.eval()


print("IAPT, 4 tokens per layer:")
model = mp.get_prompt_model(small_llama(), mp.get_config("iapt", num_tokens=4, bottleneck=32))
model.print_trainable_parameters()
model = train(model)
print("prompt tuning, 4 tokens:")
pt = mp.get_prompt_model(small_llama(), mp.get_config("prompt_tuning", num_virtual_tokens=4))
pt.print_trainable_parameters()
pt = train(pt, uses_instruction_mask=False)

test, commands = instructions(64, torch.Generator().manual_seed(1))
ids, mask = left_pad(test)
kw = {"max_new_tokens": 2, "do_sample": False, "pad_token_id": PAD}
cached = model.generate(ids, attention_mask=mask, use_cache=True, **kw)
runs_cached = model.last_generator_runs
uncached = model.generate(ids, attention_mask=mask, use_cache=False, **kw)
runs_uncached = model.last_generator_runs
answers = cached[:, ids.size(1)]
pt_answers = pt.generate(ids, attention_mask=mask, **kw)[:, ids.size(1)]
iapt_acc = (answers == 10 + commands).float().mean()
pt_acc = (pt_answers == 10 + commands).float().mean()
print(f"answer accuracy on 64 new instructions: IAPT {iapt_acc:.2f}, prompt tuning {pt_acc:.2f}")
print(f"same tokens with and without the KV cache: {torch.equal(cached, uncached)}")
print(
    f"generator runs per call: {runs_cached} with the cache (prefill only), "
    f"{runs_uncached} without (every step re-reads the instruction)"
)
print("first rows:", cached[:3, ids.size(1) :].tolist(), "expected", (10 + commands[:3]).tolist())
