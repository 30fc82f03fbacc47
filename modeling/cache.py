"""The state of the multilevel model after some prefix of a video: everything needed to continue it.

A video of any length can be processed piece by piece (streaming, sub-sequence training with state carry, sequence
parallelism across pieces). Between pieces the model needs, per Mamba block, the causal convolution's last inputs and
the SSM state; per pooling layer, the positions of a window that is not complete yet; and for the final mean pool,
the running sum and count of the (normed) last-level positions. Memory is therefore independent of the video length.

A cache is a value: the model reads the one it is given and returns a new one (``outputs.cache``); the one passed in
is never modified, so a cache can be kept, detached (truncated backpropagation through time) or passed again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .mamba import MambaLayerState


@dataclass
class BytesVideoCache:
    """Passed as ``cache`` (alias ``cache_params``) to the bytevid models; returned as ``outputs.cache`` with
    ``use_cache=True``.

    Attributes:
        layer_states: ``layer_states[level][block]``: the block's [`MambaLayerState`] after the last complete position
            of its level, ``None`` before its first one (zeros).
        pool_buffers: ``pool_buffers[level]``: (B, k, D_level) outputs of ``level`` waiting for a complete pooling
            window (k < pool_size), ``None`` when empty.
        pooled_sum: (B, D_last) fp32 sum of the normed complete last-level positions, ``None`` before the first.
        pooled_count: number of complete last-level positions summed in ``pooled_sum``.
        seen_bytes: number of bytes consumed.
    """

    layer_states: list[list[MambaLayerState | None]] = field(default_factory=list)
    pool_buffers: list[torch.Tensor | None] = field(default_factory=list)
    pooled_sum: torch.Tensor | None = None
    pooled_count: int = 0
    seen_bytes: int = 0

    @classmethod
    def empty(cls, config) -> "BytesVideoCache":
        """The state before the first byte."""
        return cls(
            layer_states=[[None] * blocks for blocks in config.blocks_per_level],
            pool_buffers=[None] * (len(config.blocks_per_level) - 1),
        )

    @property
    def batch_size(self) -> int | None:
        """Rows of the cached streams (``None`` before the first byte)."""
        for level in self.layer_states:
            for state in level:
                if state is not None:
                    return state.ssm_state.shape[0]
        return None

    def detach(self) -> "BytesVideoCache":
        """The same state cut from the autograd graph (truncated backpropagation through time)."""
        return BytesVideoCache(
            layer_states=[[None if s is None else s.detach() for s in level] for level in self.layer_states],
            pool_buffers=[None if b is None else b.detach() for b in self.pool_buffers],
            pooled_sum=None if self.pooled_sum is None else self.pooled_sum.detach(),
            pooled_count=self.pooled_count,
            seen_bytes=self.seen_bytes,
        )

    def check_matches(self, config, batch: int) -> None:
        """Raise ``ValueError`` when this cache cannot continue inputs of ``batch`` rows of a model with ``config``."""
        levels = config.blocks_per_level
        if len(self.layer_states) != len(levels) or any(len(s) != b for s, b in zip(self.layer_states, levels)):
            raise ValueError(
                f"cache has {[len(s) for s in self.layer_states]} layer states per level, the model has {levels} "
                "blocks per level: it comes from another model"
            )
        if len(self.pool_buffers) != len(levels) - 1:
            raise ValueError(f"cache has {len(self.pool_buffers)} pooling buffers, the model {len(levels) - 1}")
        rows = self.batch_size
        if rows is not None and rows != batch:
            raise ValueError(f"cache holds {rows} stream(s) but input_ids has {batch} row(s): continue the same videos")


__all__ = ["BytesVideoCache"]
