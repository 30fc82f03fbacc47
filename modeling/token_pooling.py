"""Token pooling: a fixed number of learned queries cross-attend over the backbone's last level.

Used by the RGB-reconstruction head (a grid of tokens for the decoder) and the video-QA model (the video tokens given
to the language model).
"""

from __future__ import annotations

import torch
from torch import nn

#: Attention head width of the token pooling when it divides the last level's width (else one head).
TOKEN_HEAD_DIM = 64


class BytesVideoTokenPooling(nn.Module):
    """Cross-attention of ``num_tokens`` learned queries over the last level: (B, L, D), (B, L) mask → (B, N, D).

    Padded positions (mask False) are never attended to; each query's output is added to the query itself, so the
    tokens keep their position even where the attention is nearly uniform."""

    def __init__(self, width: int, num_tokens: int):
        super().__init__()
        self.width = width
        self.num_heads = width // TOKEN_HEAD_DIM if width % TOKEN_HEAD_DIM == 0 else 1
        self.head_dim = width // self.num_heads
        self.queries = nn.Parameter(torch.zeros(num_tokens, width))
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, length, _ = hidden_states.shape
        num_tokens = self.queries.shape[0]
        queries = self.queries.to(hidden_states.dtype)
        q = queries.view(1, num_tokens, self.num_heads, self.head_dim).transpose(1, 2).expand(batch, -1, -1, -1)
        k = self.key(hidden_states).view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)
        v = self.value(hidden_states).view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)
        # (B, 1, 1, L) bool, True = attend; every row has at least one real position (prepare_byte_inputs checks).
        attended = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
        attended = attended.transpose(1, 2).reshape(batch, num_tokens, self.width)  # (B, N, D)
        return self.out_proj(attended) + queries


__all__ = ["BytesVideoTokenPooling", "TOKEN_HEAD_DIM"]
