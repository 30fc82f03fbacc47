"""Attention blocks for the baselines of paper Table 9: causal global or sliding-window (local) attention.

[`BytesVideoAttentionBlock`] is a pre-norm Transformer block, ``x + attn(norm(x))`` then ``x + mlp(norm(x))``, with
the call signature of [`BytesVideoMambaBlock`] (``block(hidden, state=None, return_state=False) -> (hidden, None)``)
so the multilevel backbone can use either. Attention is causal, so right padding never changes real positions (as
for the Mamba blocks); there are no position embeddings (causal attention infers order, as the Mamba blocks do).

The attention computation follows transformers' ``attn_implementation`` (``config._attn_implementation``, read at
every forward, so ``model.set_attn_implementation`` takes effect at once): ``"sdpa"`` (the default) runs
``torch.nn.functional.scaled_dot_product_attention``, ``"eager"`` computes ``softmax(QKᵀ/√d + mask)·V`` explicitly
(softmax in float32). Both give the same outputs; other implementations (flash, flex) are not supported.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer

from .mamba import BytesVideoRMSNorm


def eager_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None = None, is_causal: bool = False
) -> torch.Tensor:
    """``softmax(q·kᵀ/√d + mask)·v`` written out: q (..., Lq, d), k and v (..., Lk, d); ``attn_mask`` bool
    (broadcastable to (..., Lq, Lk), True = attend); ``is_causal``: query i sees keys <= i. The softmax runs in float32
    (as transformers' eager attention). Same arguments and result as ``F.scaled_dot_product_attention``."""
    scores = torch.matmul(q, k.transpose(-1, -2)).float() * q.shape[-1] ** -0.5  # (..., Lq, Lk)
    if is_causal:
        causal = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).tril()
        attn_mask = causal if attn_mask is None else attn_mask & causal
    if attn_mask is not None:
        bias = torch.zeros(attn_mask.shape, dtype=scores.dtype, device=scores.device)
        scores = scores + bias.masked_fill(~attn_mask, float("-inf"))  # the additive mask: 0 or -inf
    return torch.matmul(scores.softmax(-1).to(v.dtype), v)


def sdpa_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None = None, is_causal: bool = False
) -> torch.Tensor:
    """``torch.nn.functional.scaled_dot_product_attention`` (the fused kernels where torch has them)."""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal)


#: The attention implementations of the attention blocks, by transformers' ``attn_implementation`` name.
ATTENTION_FUNCTIONS = {"eager": eager_attention, "sdpa": sdpa_attention}


def attention_function(implementation: str | None):
    """The attention of ``attn_implementation`` ``implementation`` (``None``: ``"sdpa"``, transformers' default)."""
    implementation = "sdpa" if implementation is None else implementation
    try:
        return ATTENTION_FUNCTIONS[implementation]
    except KeyError:
        raise ValueError(
            f"the attention blocks support attn_implementation {sorted(ATTENTION_FUNCTIONS)}, got {implementation!r}"
        ) from None


def sliding_window_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int, attention=sdpa_attention
) -> torch.Tensor:
    """Causal attention of each position to itself and the previous ``window - 1`` positions.

    q, k, v: (B, H, L, d). Computed block by block (blocks of ``window`` queries attend to their own block and the
    previous one, 2·window keys), so memory is O(L·window), never O(L²). Returns (B, H, L, d).
    """
    batch, heads, length, dim = q.shape
    if length <= window:  # every allowed key is in the causal prefix
        return attention(q, k, v, is_causal=True)
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
    out = attention(q, keys, values, attn_mask=mask)  # (B, H, nb, w, d)
    return out.reshape(batch, heads, blocks * window, dim)[:, :, :length]


class BytesVideoSelfAttention(nn.Module):
    """Multi-head causal self-attention, global (``window=None``) or sliding-window, at a given width, computed by
    ``config._attn_implementation`` (``"sdpa"`` or ``"eager"``)."""

    def __init__(self, config, hidden_size: int, window: int | None):
        super().__init__()
        self.config = config  # read at every forward: set_attn_implementation switches the implementation
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
        attention = attention_function(self.config._attn_implementation)
        if self.window is None:
            out = attention(q, k, v, is_causal=True)
        else:
            out = sliding_window_attention(q, k, v, self.window, attention)
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

__all__ = [
    "ATTENTION_FUNCTIONS",
    "attention_function",
    "build_block",
    "BytesVideoAttentionBlock",
    "BytesVideoSelfAttention",
    "BytesVideoMLP",
    "eager_attention",
    "sdpa_attention",
    "sliding_window_attention",
]
