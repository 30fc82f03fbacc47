"""Pooling between levels (paper appendix A.1): concat, average or attention over windows of L_s positions,
followed by a Linear projection to the next level's width D_out.

Padded positions (mask 0) never contribute: concat sees zeros there, average divides by the real count, attention
masks them out. A pooled position is real when its window holds at least one real position.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import initialization as init


class BytesVideoPoolingLinear(nn.Linear):
    """A Linear layer of the pooling, initialised variance-preserving: weight normal(0, ``init_gain`` / sqrt(fan_in)),
    bias zero (see [`BytesVideoPooling`]). Parameter names and shapes are those of ``nn.Linear``."""

    def __init__(self, in_features: int, out_features: int, init_gain: float = 1.0):
        super().__init__(in_features, out_features)
        self.init_gain = init_gain

    @torch.no_grad()
    def init_variance_preserving(self) -> None:
        """Initialise the weights, honouring already-loaded ones (transformers' ``init`` functions skip those)."""
        init.normal_(self.weight, mean=0.0, std=self.init_gain / math.sqrt(self.in_features))
        init.zeros_(self.bias)


class BytesVideoPooling(nn.Module):
    """Merge windows of ``pool_size`` positions into one and project ``in_width`` → ``out_width``.

    Input (B, L, D_in) with L a multiple of ``pool_size`` and a (B, L) bool mask; output (B, L/L_s, D_out) and the
    pooled (B, L/L_s) mask.

    Initialisation is variance-preserving, so the levels keep the scale of the byte embeddings: every Linear is
    normal(0, gain / sqrt(fan_in)). Averaging L_s independent positions (average pooling, and attention pooling, whose
    weights start near uniform: the query is normal(initializer_range)) divides the RMS by sqrt(L_s), so the output
    projection of those two methods has gain sqrt(L_s); concat keeps every position and has gain 1. (With
    normal(0.02) everywhere, bytes-micro's last level started at an RMS of ~4e-4 (concat), ~7e-6 (average) or ~2e-8
    (attention) for embeddings of RMS 2e-2, below ``norm_f``'s sqrt(eps), so fresh average/attention models barely
    depended on their input.)
    """

    def __init__(self, config, in_width: int, out_width: int):
        super().__init__()
        self.method = config.pooling
        self.pool_size = config.pool_size
        self.in_width = in_width
        if self.method == "concat":
            self.proj = BytesVideoPoolingLinear(self.pool_size * in_width, out_width)
        else:
            self.proj = BytesVideoPoolingLinear(in_width, out_width, init_gain=math.sqrt(self.pool_size))
        if self.method == "attention":
            self.num_heads = config.pooling_attention_heads
            self.head_dim = in_width // self.num_heads
            # One learned query per head, shared by every window (class-attention style).
            self.query = nn.Parameter(torch.zeros(self.num_heads, self.head_dim))
            self.key = BytesVideoPoolingLinear(in_width, in_width)
            self.value = BytesVideoPoolingLinear(in_width, in_width)

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, length, width = hidden_states.shape
        if length % self.pool_size:
            raise ValueError(f"pooling needs a length divisible by pool_size={self.pool_size}, got {length}")
        windows = length // self.pool_size
        window_mask = mask.view(batch, windows, self.pool_size)  # (B, W, L_s)
        pooled_mask = window_mask.any(-1)  # (B, W)
        weights = window_mask.to(hidden_states.dtype).unsqueeze(-1)  # (B, W, L_s, 1)
        grouped = hidden_states.view(batch, windows, self.pool_size, width)  # (B, W, L_s, D)

        if self.method == "concat":
            pooled = (grouped * weights).reshape(batch, windows, self.pool_size * width)  # (B, W, L_s·D)
        elif self.method == "average":
            pooled = (grouped * weights).sum(2) / weights.sum(2).clamp(min=1.0)  # (B, W, D)
        else:
            pooled = self._attend(grouped, window_mask)  # (B, W, D)
        return self.proj(pooled), pooled_mask

    def _attend(self, grouped: torch.Tensor, window_mask: torch.Tensor) -> torch.Tensor:
        batch, windows, size, width = grouped.shape
        keys = self.key(grouped).view(batch, windows, size, self.num_heads, self.head_dim)
        values = self.value(grouped).view(batch, windows, size, self.num_heads, self.head_dim)
        scores = torch.einsum("bwshd,hd->bwhs", keys, self.query.to(keys.dtype)) / math.sqrt(self.head_dim)
        scores = scores.float().masked_fill(~window_mask[:, :, None, :], float("-inf"))  # (B, W, H, L_s)
        # Windows with no real position (only after the end of the video) get uniform weights, never NaN.
        scores = torch.where(window_mask.any(-1)[:, :, None, None], scores, torch.zeros_like(scores))
        probs = scores.softmax(-1).to(values.dtype)
        attended = torch.einsum("bwhs,bwshd->bwhd", probs, values)  # (B, W, H, head_dim)
        return attended.reshape(batch, windows, width)


__all__ = ["BytesVideoPooling", "BytesVideoPoolingLinear"]
