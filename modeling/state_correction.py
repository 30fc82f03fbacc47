"""State correction: how a segment's scan from a zero state becomes the scan from any state (paper Eq. 1–4).

The one place where this math lives. :mod:`.scan` uses it to give every scan backend an initial state and a final
state (a fused kernel that only starts from zero gets its initial state through Eq. 4), and sequence parallelism
(``bytevid_hf.parallel``) uses it to join the shards of the ranks (Eq. 3).

Derivation. Per channel e and state index n the selective scan is

    h_t = a_t · h_{t-1} + X_t,   a_t = exp(Δ_t·A),   X_t = Δ_t·B_t·u_t,   y_t = C_t · h_t        (S6)

Take a segment of positions (s, s + T] (a rank's shard, a streamed chunk, one block of a layer) and run (S6) on it
from a zero state, giving local states h⁰_t and outputs y⁰_t (the paper's Eq. 1 and 2). Unrolling (S6) from the true
state h_prev at the segment's start:

    h_t = (Π_{s < r ≤ t} a_r) · h_prev + h⁰_t = exp(A · S_t) · h_prev + h⁰_t,   S_t = Σ_{s < r ≤ t} Δ_r

because every term of h⁰_t is exactly the zero-state contribution. With a constant A this is the paper's
``A^i h_corrected``; here the "power" is the cumulative decay exp(A·S_t), which depends on the input.

* Eq. 3 (states between segments): with the segment's whole decay P = exp(A · S_T) and its zero-start final state
  h⁰ = h⁰_T, consecutive segments i = 0, 1, ... join by the exclusive scan

      h_prev^(0) = h_init,   h_prev^(i+1) = P^(i) · h_prev^(i) + h⁰^(i)                  (:func:`boundary_states`)

  which needs only O(B·E·N) numbers per segment, never O(L).
* Eq. 4 (outputs): y_t = y⁰_t + C_t · exp(A·S_t) · h_prev, i.e. the correction
  Δy_t[e] = Σ_n C_t[n] · exp(A[e, n] · S_t[e]) · h_prev[e, n]                               (:func:`initial_state_output`)

Both closed forms have non-positive exponents (Δ ≥ 0, A < 0), so they never overflow. The cumulative sums S are
taken in float64: in fp32, S of a long segment loses the absolute precision that exp(A·S) needs where A·S is small.
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

# Positions per block of the closed forms: their temporaries are (B, E, block, N).
_BLOCK_ELEMENTS = 1 << 22


def _block_length(batch: int, channels: int, state: int) -> int:
    return max(1, _BLOCK_ELEMENTS // max(1, batch * channels * state))


def segment_log_decay(delta: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """log P of a segment (Eq. 3): A · Σ_t Δ_t, shape (B, E, N), from Δ (B, E, T) and A (E, N). Always ≤ 0."""
    return delta.double().sum(-1).unsqueeze(-1).float() * A.float()[None]


def boundary_states(
    local_states: list[torch.Tensor], log_decays: list[torch.Tensor], initial_state: torch.Tensor | None = None
) -> list[torch.Tensor]:
    """Eq. 3: the true state entering each segment, and after the last one.

    Args:
        local_states: per segment i, h⁰^(i) (B, E, N): its final state computed from a zero state.
        log_decays: per segment i, log P^(i) (B, E, N) from :func:`segment_log_decay`.
        initial_state: the state before segment 0 (``None`` = zeros).

    Returns ``len(local_states) + 1`` states: element i is the state entering segment i, the last one the state after
    the last segment.
    """
    state = torch.zeros_like(local_states[0]) if initial_state is None else initial_state.float()
    out = [state]
    for local, log_decay in zip(local_states, log_decays):
        state = torch.exp(log_decay) * state + local
        out.append(state)
    return out


def _output_block(S: torch.Tensor, A: torch.Tensor, C: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    # S (B, E, T) fp32 cumulative Δ, A (E, N), C (B, N, T), h0 (B, E, N) -> (B, E, T)
    decay = torch.exp(S.unsqueeze(-1) * A[None, :, None, :])  # (B, E, T, N), exponent <= 0
    return torch.einsum("betn,bnt,ben->bet", decay, C, h0)


def initial_state_output(delta: torch.Tensor, A: torch.Tensor, C: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """Eq. 4: Δy_t = Σ_n C_t[n] · exp(A · S_t) · h0, shape (B, E, T) fp32, from Δ (B, E, T) (after softplus), A (E, N),
    C (B, N, T) and h0 (B, E, N): what starting a segment from h0 instead of zeros adds to its scan output.

    Evaluated block by block (each block recomputed in backward), so memory stays O(block) whatever T."""
    batch, channels, length = delta.shape
    A, C, h0 = A.float(), C.float(), h0.float()
    S = torch.cumsum(delta.double(), dim=-1)  # (B, E, T) float64
    step = _block_length(batch, channels, A.shape[1])
    pieces = []
    for start in range(0, length, step):
        S_block = S[..., start : start + step].float()
        C_block = C[..., start : start + step]
        if torch.is_grad_enabled() and length > step:
            pieces.append(checkpoint(_output_block, S_block, A, C_block, h0, use_reentrant=False))
        else:
            pieces.append(_output_block(S_block, A, C_block, h0))
    return torch.cat(pieces, dim=-1) if pieces else delta.new_zeros(batch, channels, 0).float()


def _state_block(rel: torch.Tensor, A: torch.Tensor, X: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    # rel (B, E, T) = S_T - S_t >= 0, X (B, E, T) = Δ·u, B (B, N, T) -> (B, E, N)
    decay = torch.exp(rel.unsqueeze(-1) * A[None, :, None, :])  # (B, E, T, N), exponent <= 0
    return torch.einsum("betn,bet,bnt->ben", decay, X, B)


def zero_start_final_state(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """The final state h⁰_T of a segment scanned from zero, in closed form: Σ_t exp(A · (S_T − S_t)) · Δ_t · B_t · u_t,
    shape (B, E, N) fp32, from u, Δ (B, E, T), A (E, N), B (B, N, T). Differentiable in every input; memory O(block).

    For backends whose kernel cannot return a final state that gradients flow through."""
    batch, channels, length = u.shape
    A, B = A.float(), B.float()
    S = torch.cumsum(delta.double(), dim=-1)  # (B, E, T) float64
    rel = (S[..., -1:] - S).float() if length else S.float()  # S_T - S_t >= 0
    X = delta.float() * u.float()  # (B, E, T)
    state = u.new_zeros(batch, channels, A.shape[1], dtype=torch.float32)
    step = _block_length(batch, channels, A.shape[1])
    for start in range(0, length, step):
        args = (rel[..., start : start + step], A, X[..., start : start + step], B[..., start : start + step])
        if torch.is_grad_enabled() and length > step:
            state = state + checkpoint(_state_block, *args, use_reentrant=False)
        else:
            state = state + _state_block(*args)
    return state


def final_state_from(h0: torch.Tensor | None, delta: torch.Tensor, A: torch.Tensor, local_final: torch.Tensor) -> torch.Tensor:
    """Eq. 3 for one segment: the final state when the segment starts from ``h0`` instead of zeros,
    exp(A · Σ Δ) · h0 + h⁰_T, shape (B, E, N)."""
    if h0 is None:
        return local_final
    return torch.exp(segment_log_decay(delta, A)) * h0.float() + local_final


__all__ = [
    "boundary_states",
    "final_state_from",
    "initial_state_output",
    "segment_log_decay",
    "zero_start_final_state",
]
