"""Streaming state of the multilevel model: everything needed to continue a byte stream where it stopped.

A video of any length is processed chunk by chunk. Between chunks the model keeps, per Mamba block, the causal
convolution's last inputs and the SSM state; per pooling layer, the positions of a window that is not complete yet; and
for the final mean pool, the running sum and count of the (normed) last-level positions. Memory is therefore
independent of the video length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .mamba import MambaLayerState


@dataclass
class BytesVideoCache:
    """Cache passed as ``cache_params`` to [`BytesVideoModel`] / [`BytesVideoForClassification`].

    Attributes:
        layer_states: ``layer_states[level][block]``: the block's [`MambaLayerState`], ``None`` before its first input.
        pool_buffers: ``pool_buffers[level]``: (B, k, D_level) positions waiting for a complete pooling window
            (k < pool_size), ``None`` when empty.
        pooled_sum: (B, D_last) sum of the normed last-level positions produced so far, ``None`` before the first.
        pooled_count: number of last-level positions summed in ``pooled_sum``.
        seen_bytes: number of bytes consumed.
    """

    layer_states: list[list[MambaLayerState | None]] = field(default_factory=list)
    pool_buffers: list[torch.Tensor | None] = field(default_factory=list)
    pooled_sum: torch.Tensor | None = None
    pooled_count: int = 0
    seen_bytes: int = 0

    @classmethod
    def empty(cls, config) -> "BytesVideoCache":
        return cls(
            layer_states=[[None] * config.layers_per_level for _ in range(config.num_levels)],
            pool_buffers=[None] * (config.num_levels - 1),
        )

    def detach(self) -> "BytesVideoCache":
        """A copy cut from the autograd graph (for truncated backpropagation through time)."""
        return BytesVideoCache(
            layer_states=[
                [None if s is None else MambaLayerState(s.conv_state.detach(), s.ssm_state.detach()) for s in level]
                for level in self.layer_states
            ],
            pool_buffers=[None if b is None else b.detach() for b in self.pool_buffers],
            pooled_sum=None if self.pooled_sum is None else self.pooled_sum.detach(),
            pooled_count=self.pooled_count,
            seen_bytes=self.seen_bytes,
        )


__all__ = ["BytesVideoCache"]
