"""Mixed-tenant batches: one frozen backbone, each sample with a different tenant's prompt.

PEFT supports ``adapter_names=[...]`` batches for LoRA only (peft#759 asked for prompt methods);
for input prompts they are cheap: every row gets its own virtual tokens (padded to a common
length and masked, :func:`~modalprompt.nlp.injection.inject_prompt`'s ``prompt_lengths``), EPT
rows also their own low-rank input offset, and classification rows their own head. IAPT rows get
their tenant's ``num_tokens`` slots, which that tenant's per-layer generators fill from the row's
input (the whole input is the instruction, as in :meth:`IaptModel.generate
<modalprompt.nlp.iapt.model.IaptModel.generate>`; there is no ``instruction_mask`` here, so
train IAPT tenants alone); with the KV cache the generators run once, at prefill.
Each row's output equals running its tenant alone on it (up to float rounding of masked slots).

Example::

    server = MultiTenantPromptModel({"sst2": sst2_model, "rte": rte_model})
    logits = server(input_ids, attention_mask=mask, adapter_names=["sst2", "rte", "sst2"])
    tokens = server.generate(ids, attention_mask=mask, adapter_names=[...], max_new_tokens=20)

Tenants are :class:`~modalprompt.nlp.prompt_tuning.model.PromptTuningModel`,
:class:`~modalprompt.nlp.ept.model.EptModel` or :class:`~modalprompt.nlp.iapt.model.IaptModel`
instances built on the *same* backbone object, with the same ``task`` and ``placement`` (IAPT's
is ``"before_text"``). ``"__base__"`` (decoders) runs a row without any prompt.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from modalprompt.core.model import PromptModel
from modalprompt.nlp.injection import InjectedInputs, generate_with_prompt, inject_prompt
from modalprompt.nlp.prompt_tuning.model import HEAD_NAMES, PromptTuningModel

__all__ = ["MultiTenantPromptModel", "BASE"]

BASE = "__base__"


def _is_iapt(model: nn.Module) -> bool:
    from modalprompt.nlp.iapt.model import IaptModel

    return isinstance(model, IaptModel)


def _placement(model: nn.Module) -> str:
    return getattr(model.config, "placement", "before_text")  # IAPT: always before_text


class MultiTenantPromptModel(nn.Module):
    """Serve several prompt-tuning / EPT / IAPT tenants of one frozen backbone in mixed batches.

    Args:
        tenants: ``{name: model}``; every model wraps the same backbone object.

    Shapes:
        input_ids / attention_mask: ``(B, L)`` (``L`` = ``max_length`` when an EPT tenant is in
        the batch); ``adapter_names``: ``B`` tenant names. Outputs as the tenants' ``forward``:
        logits ``(B, C)`` (classification) or the backbone output with ``(B, n + L, V)``
        logits, ``n`` the longest prompt in the batch (:meth:`text_logits` keeps ``L``).
    """

    def __init__(self, tenants: Mapping[str, PromptModel]) -> None:
        super().__init__()
        if not tenants:
            raise ValueError("tenants: need at least one tenant")
        for name, model in tenants.items():
            if not isinstance(model, PromptTuningModel) and not _is_iapt(model):
                raise TypeError(
                    f"tenants[{name!r}]: expected a PromptTuningModel, EptModel or IaptModel, "
                    f"got {type(model).__name__}"
                )
            if name == BASE:
                raise ValueError(f"tenants: {BASE!r} is reserved for rows without a prompt")
        first = next(iter(tenants.values()))
        for name, model in tenants.items():
            for attribute, get in (("task", lambda m: m.config.task), ("placement", _placement)):
                ours, theirs = get(model), get(first)
                if ours != theirs:
                    raise ValueError(
                        f"tenants[{name!r}]: {attribute}={ours!r}, but another tenant has "
                        f"{theirs!r}; one batch needs one {attribute}"
                    )
            if model.backbone is not first.backbone:
                raise ValueError(f"tenants[{name!r}]: wraps a different backbone object")
        self.tenants = nn.ModuleDict(dict(tenants))
        self.backbone = first.backbone
        self.kind = first.kind
        self.task = first.config.task
        self.placement = _placement(first)
        self._rows: list[Any] | None = None
        self._head_hook = None
        if self.task == "classification":
            head = next(getattr(self.backbone, n) for n in HEAD_NAMES if hasattr(self.backbone, n))
            self._head_hook = head.register_forward_hook(self._per_row_heads)

    # ----------------------------------------------------------------------------- parts
    def _tenant_rows(self, adapter_names: Sequence[str], batch: int) -> list[str]:
        names = list(adapter_names)
        if len(names) != batch:
            raise ValueError(f"adapter_names: {len(names)} names for a batch of {batch}")
        known = set(self.tenants) | ({BASE} if self.kind == "decoder" else set())
        unknown = sorted(set(names) - known)
        if unknown:
            raise ValueError(f"adapter_names: unknown tenants {unknown}; known: {sorted(known)}")
        return names

    def _prompts(self, names: list[str], device: torch.device) -> tuple[Tensor, Tensor]:
        """``(B, n, D)`` prompts (each left-aligned, zero-padded) and ``(B,)`` their lengths."""
        hidden = self.backbone.get_input_embeddings().weight.size(1)
        rendered = {}
        for name in set(names) - {BASE}:
            tenant = self.tenants[name]
            if _is_iapt(tenant):  # zero slots, filled inside every layer by its generators
                rendered[name] = torch.zeros(tenant.config.num_tokens, hidden, device=device)
            else:
                rendered[name] = tenant.get_prompt()
        n = max([p.size(0) for p in rendered.values()] + [1])
        prompts = torch.zeros(len(names), n, hidden, device=device)
        lengths = torch.zeros(len(names), dtype=torch.long, device=device)
        for row, name in enumerate(names):
            if name != BASE:
                prompt = rendered[name]
                prompts[row, : prompt.size(0)] = prompt.to(device)
                lengths[row] = prompt.size(0)
        return prompts, lengths

    def _embeddings(self, names: list[str], input_ids: Tensor, mask: Tensor | None) -> Tensor:
        """Input embeddings ``(B, L, D)`` with each EPT row's own offset added."""
        from modalprompt.nlp.ept.model import EptModel, aligned_offset

        embeds = self.backbone.get_input_embeddings()(input_ids)
        ept_rows = [
            r
            for r, name in enumerate(names)
            if name in self.tenants and isinstance(self.tenants[name], EptModel)
        ]
        if not ept_rows:
            return embeds
        if mask is None:
            mask = torch.ones_like(input_ids)
        offsets = torch.zeros_like(embeds)
        for name in {names[r] for r in ept_rows}:
            tenant = self.tenants[name]
            try:
                tenant.ept.check_length(input_ids.size(1))
            except ValueError as err:
                raise ValueError(f"input_ids: tenant {name!r}: {err}") from None
            offsets[[r for r in ept_rows if names[r] == name]] = tenant.get_offset().to(embeds)
        rows = torch.tensor(ept_rows, device=embeds.device)
        shifted = aligned_offset(offsets[rows], mask[rows])
        return embeds.index_add(0, rows, shifted.to(embeds.dtype))

    def _per_row_heads(self, module: nn.Module, args: tuple[Any, ...], output: Tensor) -> Any:
        """Forward hook on the backbone's head: each row gets its own tenant's head."""
        if self._rows is None:
            return None
        result = output.clone()
        for name in set(self._rows) - {BASE}:
            head = self.tenants[name].head
            if head is None:
                continue
            rows = torch.tensor([i for i, n in enumerate(self._rows) if n == name])
            result[rows.to(output.device)] = head(*args)[rows.to(output.device)].to(output.dtype)
        return result

    @contextmanager
    def _routing(self, names: list[str]) -> Iterator[None]:
        previous, self._rows = self._rows, names
        try:
            yield
        finally:
            self._rows = previous

    @contextmanager
    def _iapt_insertions(self, names: list[str], injected: InjectedInputs | None) -> Iterator[None]:
        """While active, each IAPT tenant's layer hooks fill the slots of its own rows.

        Every IAPT tenant's generators read every row's input (the text tokens; a row must have
        one to pool over) but write only the used slots of that tenant's rows.
        """
        from modalprompt.nlp.iapt.layers import Insertion

        iapt = sorted({n for n in names if n != BASE and _is_iapt(self.tenants[n])})
        if not iapt or injected is None:
            yield
            return
        virtual = injected.virtual_mask
        used = virtual & injected.kwargs["attention_mask"].bool().to(virtual.device)
        instruction = injected.kwargs["attention_mask"].bool().to(virtual.device) & ~virtual
        with ExitStack() as stack:
            for name in iapt:
                rows = torch.tensor([n == name for n in names], device=virtual.device)
                slots = used & rows.unsqueeze(1)
                stack.enter_context(self.tenants[name].inserting(Insertion(slots, instruction)))
            yield

    # --------------------------------------------------------------------------- forward
    def forward(
        self,
        input_ids: Tensor,
        adapter_names: Sequence[str],
        attention_mask: Tensor | None = None,
        **inputs: Any,
    ) -> Any:
        """Class logits ``(B, C)`` or the backbone output (``task="lm"``, ``.injected`` set)."""
        names = self._tenant_rows(adapter_names, input_ids.size(0))
        prompts, lengths = self._prompts(names, input_ids.device)
        injected = inject_prompt(
            self.backbone,
            prompts,
            inputs_embeds=self._embeddings(names, input_ids, attention_mask),
            attention_mask=attention_mask,
            placement=self.placement,
            prompt_lengths=lengths,
            **inputs,
        )
        with self._routing(names), self._iapt_insertions(names, injected):
            output = self.backbone(**injected.kwargs)
        output.injected = injected
        return output.logits if self.task == "classification" else output

    @staticmethod
    def text_logits(output: Any) -> Tensor:
        """The logits at the real-token positions: ``(B, L, V)``."""
        return output.injected.text_positions(output.logits)

    @torch.no_grad()
    def generate(
        self,
        input_ids: Tensor,
        adapter_names: Sequence[str],
        attention_mask: Tensor | None = None,
        **generate_kwargs: Any,
    ) -> Any:
        """``generate`` with each row's tenant prompt (decoders; left padding). Returns
        ``input_ids`` followed by the new tokens, as the tenants' ``generate``."""
        names = self._tenant_rows(adapter_names, input_ids.size(0))
        prompts, lengths = self._prompts(names, input_ids.device)
        embeds = self._embeddings(names, input_ids, attention_mask)
        layout = None
        if any(n != BASE and _is_iapt(self.tenants[n]) for n in names):
            # the prefill layout generate_with_prompt builds, for the IAPT tenants' slots
            layout = inject_prompt(
                self.backbone,
                prompts,
                inputs_embeds=embeds,
                attention_mask=attention_mask,
                placement=self.placement,
                prompt_lengths=lengths,
            )
        with self._iapt_insertions(names, layout):
            return generate_with_prompt(
                self.backbone,
                prompts,
                input_ids,
                attention_mask,
                placement=self.placement,
                inputs_embeds=embeds,
                prompt_lengths=lengths,
                **generate_kwargs,
            )

    def close(self) -> None:
        """Remove the head hook from the backbone."""
        if self._head_hook is not None:
            self._head_hook.remove()
            self._head_hook = None
