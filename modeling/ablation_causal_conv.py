"""The causal-convolution baseline of paper Table 9 ("Causal Conv"): a gated causal depthwise-convolution block.

[`BytesVideoCausalConvBlock`] is ``x + mixer(norm(x))`` with the mixer in_proj (D → 2E) → causal depthwise Conv1d
(kernel ``conv_mixer_kernel``) → SiLU → × SiLU(gate) → out_proj (E → D): a Mamba block without the selective scan,
so its parameter count is close to a Mamba block's and only the sequence mixing differs. Same call signature as
[`BytesVideoMambaBlock`].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

from .mamba import BytesVideoRMSNorm


class BytesVideoCausalConvMixer(nn.Module):
    """Gated causal depthwise convolution at a given width: (B, L, D) → (B, L, D)."""

    def __init__(self, config, hidden_size: int):
        super().__init__()
        self.intermediate_size = config.expand * hidden_size
        self.kernel_size = config.conv_mixer_kernel
        self.in_proj = nn.Linear(hidden_size, 2 * self.intermediate_size, bias=config.use_bias)
        self.conv1d = nn.Conv1d(
            self.intermediate_size, self.intermediate_size, kernel_size=self.kernel_size,
            groups=self.intermediate_size, bias=config.use_conv_bias,
        )
        self.out_proj = nn.Linear(self.intermediate_size, hidden_size, bias=config.use_bias)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        x, gate = self.in_proj(hidden_states).transpose(1, 2).chunk(2, dim=1)  # (B, E, L) each
        x = self.conv1d(F.pad(x, (self.kernel_size - 1, 0)))  # causal: position t sees t-k+1 .. t
        y = F.silu(x) * F.silu(gate)  # (B, E, L)
        return self.out_proj(y.transpose(1, 2))  # (B, L, D)


class BytesVideoCausalConvBlock(GradientCheckpointingLayer):
    """Pre-norm residual block ``x + causal_conv_mixer(norm(x))``."""

    def __init__(self, config, hidden_size: int):
        super().__init__()
        self.norm = BytesVideoRMSNorm(hidden_size, eps=config.layer_norm_epsilon)
        self.mixer = BytesVideoCausalConvMixer(config, hidden_size)

    def forward(self, hidden_states: torch.Tensor, state=None, return_state: bool = False):
        """(B, L, D) → (B, L, D). The streaming state is Mamba-only: ``state`` must be ``None``."""
        if state is not None or return_state:
            raise ValueError("causal-conv blocks do not implement streaming state (mixer_type='causal_conv'): "
                             "streaming and state carry are Mamba-only")
        return hidden_states + self.mixer(self.norm(hidden_states)), None


def build_block(config, level: int, width: int) -> nn.Module:
    """The mixer registry's builder for ``mixer_type="causal_conv"``."""
    return BytesVideoCausalConvBlock(config, width)

__all__ = ["build_block", "BytesVideoCausalConvBlock", "BytesVideoCausalConvMixer"]
