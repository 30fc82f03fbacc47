"""The chunked SSM of paper Table 15 (Bhirangi et al. 2024): Mamba blocks restarted at every chunk boundary.

[`BytesVideoChunkedMambaBlock`] has exactly the parameters of [`BytesVideoMambaBlock`]; its forward splits the
sequence into chunks of ``chunk_length`` positions and runs each from a zero SSM state and a zero convolution context,
i.e. the chunks are encoded independently (as if each were a separate video). ``mixer_type="chunked_ssm"`` uses it at
every level but the last.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .mamba import BytesVideoMambaBlock


class BytesVideoChunkedMambaBlock(BytesVideoMambaBlock):
    """A Mamba block whose scan and causal convolution restart every ``chunk_length`` positions."""

    def __init__(self, config, hidden_size: int, chunk_length: int):
        super().__init__(config, hidden_size)
        if chunk_length < 1:
            raise ValueError(f"chunk_length must be >= 1, got {chunk_length}")
        self.chunk_length = chunk_length

    def forward(self, hidden_states: torch.Tensor, state=None, return_state: bool = False):
        """(B, L, D) → (B, L, D), each chunk from zero state. Chunks are independent, so no state is carried."""
        if state is not None or return_state:
            raise ValueError("chunked SSM blocks restart at every chunk and carry no state "
                             "(mixer_type='chunked_ssm'): streaming and state carry are Mamba-only")
        batch, length, width = hidden_states.shape
        chunk = self.chunk_length
        pad = (-length) % chunk  # after the end of the sequence: causal, never reaches a real position
        padded = F.pad(hidden_states, (0, 0, 0, pad)) if pad else hidden_states
        chunks = padded.reshape(batch * (padded.shape[1] // chunk), chunk, width)  # (B·n, chunk, D)
        out, _ = super().forward(chunks)
        return out.reshape(batch, -1, width)[:, :length], None


def build_block(config, level: int, width: int):
    """The mixer registry's builder for ``mixer_type="chunked_ssm"``: chunked Mamba blocks at every level but the
    last, which sees the whole sequence (Bhirangi et al.'s upper SSM)."""
    if level == config.num_levels - 1:
        return BytesVideoMambaBlock(config, width)
    return BytesVideoChunkedMambaBlock(config, width, chunk_length=config.ssm_chunk_size // config.pool_size**level)

__all__ = ["build_block", "BytesVideoChunkedMambaBlock"]
