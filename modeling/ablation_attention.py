"""Attention blocks for the baselines of paper Table 9: causal global or sliding-window (local) attention.

[`BytesVideoAttentionBlock`] is a pre-norm Transformer block, ``x + attn(norm(x))`` then ``x + mlp(norm(x))``, with
the call signature of [`BytesVideoMambaBlock`] (``block(hidden, state=None, return_state=False) -> (hidden, None)``)
so the multilevel backbone can use either. Attention is causal, so right padding never changes real positions (as
for the Mamba blocks); there are no position embeddings (causal attention infers order, as the Mamba blocks do).
Attention runs through ``torch.nn.functional.scaled_dot_product_attention``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer

from .mamba import BytesVideoRMSNorm


def sliding_window_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int) -> torch.Tensor:
    """Causal attention of each position to itself and the previous ``window - 1`` positions.

    q, k, v: (B, H, L, d). Computed block by block (blocks of ``window`` queries attend to their own block and the
    previous one, 2·window keys), so memory is O(L·window), never O(L²). Returns (B, H, L, d).
    """
    batch, heads, length, dim = q.shape
    if length <= window:  # every allowed key is in the causal prefix
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    pad = (-length) % window
    if pad:  # padding after the end: causal, so it never reaches a real query
        q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
    blocks = (length + pad) // window
    q = q.view(batch, heads, blocks, window, dim)  # (B, H, nb, w, d)
    k = k.view(batch, heads, blocks, window, dim)
    v = v.view(batch, heads, blocks, window, dim)
    previous = lambda t: F.pad(t, (0, 0, 0, 0, 1, 0))[:, :, :-1]  # block b-1 (zeros before the first)
    keys = torch.cat((previous(k), k), dim=3)  # (B, H, nb, 2w, d)
    values = torch.cat((previous(v), v), dim=3)
    # Query i of a block (position b·w + i) may see key j (position (b-1)·w + j) iff 0 <= (w + i - j) < w.
    i = torch.arange(window, device=q.device)[:, None]
    j = torch.arange(2 * window, device=q.device)[None, :]
    allowed = (j > i) & (j <= i + window)  # (w, 2w)
    first = allowed & (j >= window)  # block 0 has no previous block
    mask = torch.stack([first] + [allowed] * (blocks - 1))  # (nb, w, 2w)
    out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)  # (B, H, nb, w, d)
    return out.reshape(batch, heads, blocks * window, dim)[:, :, :length]


class BytesVideoSelfAttention(nn.Module):
    """Multi-head causal self-attention, global (``window=None``) or sliding-window, at a given width."""

    def __init__(self, config, hidden_size: int, window: int | None):
        super().__init__()
        if hidden_size % config.num_attention_heads:
            raise ValueError(
                f"num_attention_heads={config.num_attention_heads} must divide the level width {hidden_size}"
            )
        self.num_heads = config.num_attention_heads
        self.head_dim = hidden_size // self.num_heads
        self.window = window
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size, bias=False)
        self.out_proj = nn.Linear(hidden_size, hidden_size, bias=False)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        batch, length, width = hidden_states.shape
        qkv = self.qkv(hidden_states).view(batch, length, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # (B, H, L, d) each
        if self.window is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            out = sliding_window_attention(q, k, v, self.window)
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, width))  # (B, L, D)


class BytesVideoMLP(nn.Module):
    """The Transformer block's feed-forward: Linear(D → r·D), activation, Linear(r·D → D)."""

    def __init__(self, config, hidden_size: int):
        super().__init__()
        self.up_proj = nn.Linear(hidden_size, config.attention_mlp_ratio * hidden_size)
        self.act = ACT2FN["gelu"]
        self.down_proj = nn.Linear(config.attention_mlp_ratio * hidden_size, hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.act(self.up_proj(hidden_states)))


class BytesVideoAttentionBlock(GradientCheckpointingLayer):
    """Pre-norm Transformer block with causal global (``window=None``) or sliding-window attention."""

    def __init__(self, config, hidden_size: int, window: int | None = None):
        super().__init__()
        self.norm = BytesVideoRMSNorm(hidden_size, eps=config.layer_norm_epsilon)
        self.attention = BytesVideoSelfAttention(config, hidden_size, window)
        self.mlp_norm = BytesVideoRMSNorm(hidden_size, eps=config.layer_norm_epsilon)
        self.mlp = BytesVideoMLP(config, hidden_size)

    def forward(self, hidden_states: torch.Tensor, state=None, return_state: bool = False):
        """(B, L, D) → (B, L, D). Attention keeps no recurrent state: ``state`` must be ``None``."""
        if state is not None or return_state:
            raise ValueError("attention blocks keep no recurrent state (mixer_type is not 'mamba'): streaming and "
                             "state carry are Mamba-only")
        hidden_states = hidden_states + self.attention(self.norm(hidden_states))
        return hidden_states + self.mlp(self.mlp_norm(hidden_states)), None


def build_block(config, level: int, width: int) -> nn.Module:
    """The mixer registry's builder for ``mixer_type="transformer"`` (global attention) and ``"local_attention"``
    (sliding window of ``attention_window`` positions)."""
    window = None if config.mixer_type == "transformer" else config.attention_window
    return BytesVideoAttentionBlock(config, width, window=window)

__all__ = ["build_block", "BytesVideoAttentionBlock", "BytesVideoSelfAttention", "BytesVideoMLP", "sliding_window_attention"]
