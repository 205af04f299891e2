"""EPT's prompt: DePT decomposition, prompt fusion and multi-space projection.

EPT (Lan et al., AAAI 2025) has no official code and its paper gives no pseudocode; this module
implements the parametrisation the method brief reconstructs from the paper's sections:

1. Decomposition (DePT, whose code is public): a short prompt ``P_s`` (m, d) and a low-rank
   position-wise offset ``c * A B`` (s, d) added to the input embeddings, ``c = alpha / sqrt(r)``
   (DePT's scaling), ``A`` kaiming-uniform, ``B`` zeros.
2. Fusion: the short prompt attends to the rows of the low-rank update ``Z = A B`` (queries and
   keys projected to ``k`` dims): ``P_f = P_s + softmax(P_s W_q (Z W_k)^T / sqrt(k)) Z``. Our
   choice: the values are ``Z`` itself (no ``W_v``), so fusion adds only ``2·d·k`` parameters.
3. Multi-space projection: ``N`` low-rank maps ``U_i V_i`` (d→k→d) mixed by a gate
   ``g = softmax(W_g mean(P_f))``: ``P = P_f + sum_i g_i P_f U_i V_i`` (the reconstructed prompt).

Every ``V_i`` and ``B`` start at zero, so an untrained EPT prompt equals its short prompt and adds
no offset, exactly where DePT starts.

:class:`EptTransform` holds steps 1–3 without the short prompt (the registered ``ept`` model keeps
the short prompt as ``prompt_embeddings``, like vanilla prompt tuning); :class:`EptPrompt` owns one.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = [
    "EptTransform",
    "EptPrompt",
    "dept_sizes_for_budget",
    "ept_parameter_count",
    "ept_sizes_for_budget",
]


class EptTransform(nn.Module):
    """EPT's low-rank offset, fusion and multi-space projection around a given short prompt.

    Args:
        hidden_size: ``d``. max_length: ``s`` (inputs must be padded to it). rank: ``r`` of the
        offset. num_spaces: ``N``. space_rank: ``k`` of fusion and projections.
        lora_alpha: DePT's ``alpha`` (default 8). fusion: enable step 2. projection: step 3.

    Shapes:
        forward(prompt ``(m, d)``) → reconstructed prompt ``(m, d)``, offset ``(s, d)``.
    """

    def __init__(
        self,
        hidden_size: int,
        max_length: int,
        rank: int,
        num_spaces: int = 4,
        space_rank: int = 8,
        lora_alpha: float = 8.0,
        fusion: bool = True,
        projection: bool = True,
    ) -> None:
        super().__init__()
        for name, value in (
            ("hidden_size", hidden_size),
            ("max_length", max_length),
            ("rank", rank),
            ("num_spaces", num_spaces),
            ("space_rank", space_rank),
        ):
            if value < 1:
                raise ValueError(f"{name}: expected >= 1, got {value}")
        self.lora_a = nn.Parameter(torch.empty(max_length, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.lora_b = nn.Parameter(torch.zeros(rank, hidden_size))
        self.scaling = lora_alpha / math.sqrt(rank)
        self.fusion = fusion
        self.projection = projection
        if fusion:
            self.query = nn.Linear(hidden_size, space_rank, bias=False)
            self.key = nn.Linear(hidden_size, space_rank, bias=False)
        if projection:
            self.space_down = nn.Parameter(torch.randn(num_spaces, hidden_size, space_rank) * 0.02)
            self.space_up = nn.Parameter(torch.zeros(num_spaces, space_rank, hidden_size))
            self.gate = nn.Linear(hidden_size, num_spaces)

    @property
    def max_length(self) -> int:
        return self.lora_a.size(0)

    def low_rank_parameters(self) -> list[nn.Parameter]:
        """``A`` and ``B`` (DePT's second learning rate)."""
        return [self.lora_a, self.lora_b]

    def offset(self) -> Tensor:
        """``c * A B``: ``(s, d)``, added position-wise to the input embeddings."""
        return self.scaling * (self.lora_a @ self.lora_b)

    def forward(self, prompt: Tensor) -> tuple[Tensor, Tensor]:
        """``prompt`` ``(m, d)`` → (reconstructed prompt ``(m, d)``, offset ``(s, d)``)."""
        offset = self.offset()
        if self.fusion:
            attn = self.query(prompt) @ self.key(offset).T / math.sqrt(self.query.out_features)
            prompt = prompt + torch.softmax(attn, dim=-1) @ offset  # (m, d)
        if self.projection:
            gate = torch.softmax(self.gate(prompt.mean(0)), dim=-1)  # (N,)
            spaces = torch.einsum("md,ndk,nke->nme", prompt, self.space_down, self.space_up)
            prompt = prompt + torch.einsum("n,nme->me", gate, spaces)
        return prompt, offset

    def check_length(self, input_length: int) -> None:
        """DePT/EPT offsets are position-wise: inputs must be padded to exactly ``max_length``."""
        if input_length != self.max_length:
            raise ValueError(
                f"input length {input_length} != max_length {self.max_length}: EPT's position-wise "
                "offset needs every input padded (and truncated) to exactly max_length, e.g. "
                "tokenizer(..., padding='max_length', truncation=True, "
                f"max_length={self.max_length})"
            )


class EptPrompt(EptTransform):
    """The trainable parts of EPT, short prompt included.

    Args:
        hidden_size: ``d``. num_tokens: ``m``. Other arguments as :class:`EptTransform`.

    Shapes:
        forward() → prompt ``(m, d)``, offset ``(s, d)``.
    """

    def __init__(
        self,
        hidden_size: int,
        num_tokens: int,
        max_length: int,
        rank: int,
        num_spaces: int = 4,
        space_rank: int = 8,
        lora_alpha: float = 8.0,
        fusion: bool = True,
        projection: bool = True,
    ) -> None:
        if num_tokens < 1:
            raise ValueError(f"num_tokens: expected >= 1, got {num_tokens}")
        super().__init__(
            hidden_size, max_length, rank, num_spaces, space_rank, lora_alpha, fusion, projection
        )
        self.prompt = nn.Parameter(torch.randn(num_tokens, hidden_size) * 0.02)

    def forward(self, prompt: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return super().forward(self.prompt if prompt is None else prompt)


def ept_parameter_count(
    hidden_size: int,
    num_tokens: int,
    max_length: int,
    rank: int,
    num_spaces: int = 4,
    space_rank: int = 8,
    fusion: bool = True,
    projection: bool = True,
) -> int:
    """Trainable parameters of EPT's prompt: ``m·d + r·(s + d)`` (DePT) plus ``2·d·k`` for
    fusion and ``N·2·d·k + N·(d + 1)`` for the projections and the gate."""
    d, k, n = hidden_size, space_rank, num_spaces
    count = num_tokens * d + rank * (max_length + d)
    if fusion:
        count += 2 * d * k
    if projection:
        count += n * 2 * d * k + n * (d + 1)
    return count


def ept_sizes_for_budget(
    hidden_size: int,
    max_length: int,
    budget_tokens: int,
    num_tokens: int,
    num_spaces: int = 4,
    space_rank: int = 8,
    fusion: bool = True,
    projection: bool = True,
) -> int:
    """The largest rank ``r`` whose :func:`ept_parameter_count` stays within a vanilla prompt of
    ``budget_tokens`` tokens (``budget_tokens·d`` parameters); fusion and projection count too.

    Raises:
        ValueError: the short prompt plus fusion/projection leave no room for a rank-1 offset.
    """
    fixed = ept_parameter_count(
        hidden_size, num_tokens, max_length, 0, num_spaces, space_rank, fusion, projection
    )
    remaining = budget_tokens * hidden_size - fixed
    rank = remaining // (max_length + hidden_size)
    if rank < 1:
        raise ValueError(
            f"budget_tokens: {budget_tokens} tokens ({budget_tokens * hidden_size:,} parameters) "
            f"leave no room for a rank-1 offset after the short prompt, fusion and projection "
            f"({fixed:,} parameters); raise budget_tokens or lower num_virtual_tokens/space_rank"
        )
    return rank


def dept_sizes_for_budget(
    hidden_size: int, max_length: int, budget_tokens: int, num_tokens: int
) -> int:
    """The rank ``r`` that makes ``m·d + r·(s + d)`` match a vanilla prompt of ``budget_tokens``
    (``budget_tokens·d`` parameters) as closely as possible from below.

    DePT's example: d=768, s=256, PT-100 → m=60 gives r=30 (76,800 parameters either way).
    """
    if num_tokens >= budget_tokens:
        raise ValueError(f"num_tokens ({num_tokens}) must be below budget_tokens ({budget_tokens})")
    remaining = (budget_tokens - num_tokens) * hidden_size
    rank = remaining // (max_length + hidden_size)
    if rank < 1:
        raise ValueError("budget too small for a rank-1 offset; raise budget_tokens")
    return rank
