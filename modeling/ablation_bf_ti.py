"""The ByteFormer-style backbone of paper Table 9 ("BF-Ti", Horton et al. 2023): strided Conv1d downsampling of the
byte embeddings, then sliding-window attention blocks at constant width with 2× max-pool downsampling between levels.

``mixer_type="bf_ti"`` builds [`BytesVideoModel`] from these pieces: [`BytesVideoConvStem`] after the embedding,
[`BytesVideoAttentionBlock`] (window ``attention_window``) as the blocks of each level, and [`BytesVideoMaxPool`] in
place of the pooling layers. Both modules take and return ``(hidden, mask)`` like [`BytesVideoPooling`].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .ablation_attention import BytesVideoAttentionBlock


class BytesVideoConvStem(nn.Module):
    """Conv1d(D → D, kernel 2s, stride s), causal: output position t covers bytes [(t-1)·s, (t+1)·s).

    Input (B, L, D) with L a multiple of s and a (B, L) bool mask; output (B, L/s, D) and the mask of the outputs
    whose first new byte (t·s) is real. Padded bytes embed as zeros, so right padding never changes a real output.
    """

    def __init__(self, config):
        super().__init__()
        self.stride = config.bf_ti_conv_stride
        width = config.hidden_size
        self.conv = nn.Conv1d(width, width, kernel_size=2 * self.stride, stride=self.stride)

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        length = hidden_states.shape[1]
        if length % self.stride:
            raise ValueError(f"the conv stem needs a length divisible by bf_ti_conv_stride={self.stride}, got {length}")
        x = F.pad(hidden_states.transpose(1, 2), (self.stride, 0))  # (B, D, s + L)
        out = self.conv(x).transpose(1, 2)  # (B, L/s, D)
        return out, mask[:, :: self.stride]


class BytesVideoMaxPool(nn.Module):
    """Max over windows of 2 real positions (padding excluded): (B, L, D) → (B, L/2, D), and the pooled mask."""

    pool_size = 2

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, length, width = hidden_states.shape
        if length % self.pool_size:
            raise ValueError(f"max pooling needs an even length, got {length}")
        grouped = hidden_states.view(batch, length // self.pool_size, self.pool_size, width)
        window_mask = mask.view(batch, length // self.pool_size, self.pool_size)  # (B, L/2, 2)
        filled = grouped.masked_fill(~window_mask[..., None], torch.finfo(grouped.dtype).min)
        pooled_mask = window_mask.any(-1)  # (B, L/2)
        pooled = filled.max(2).values * pooled_mask[..., None].to(grouped.dtype)  # all-padding windows → 0
        return pooled, pooled_mask


def build_block(config, level: int, width: int) -> nn.Module:
    """The mixer registry's builders for ``mixer_type="bf_ti"``: sliding-window attention blocks, the conv stem
    and 2× max pooling between levels."""
    return BytesVideoAttentionBlock(config, width, window=config.attention_window)


def build_stem(config) -> nn.Module:
    return BytesVideoConvStem(config)


def build_pooler(config, level: int, in_width: int, out_width: int) -> nn.Module:
    return BytesVideoMaxPool()

__all__ = ["build_block", "build_pooler", "build_stem", "BytesVideoConvStem", "BytesVideoMaxPool"]
