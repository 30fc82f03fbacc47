"""State correction for sequence parallelism: the paper's Eq. 1–4, generalised to Mamba's input-dependent decay.

The one place where the correction math lives; :mod:`.sequence_parallel` only moves the summaries between ranks.

Derivation. Per channel e and state index n the selective scan is

    h_t = a_t · h_{t-1} + X_t,   a_t = exp(Δ_t·A),   X_t = Δ_t·B_t·u_t,   y_t = C_t · h_t        (S6)

Split the sequence into V contiguous shards, shard i = positions (s_i, s_{i+1}]. Each rank runs the scan on its shard
from a zero state, giving local states h^0_t and outputs y^0_t (the paper's Eq. 1 and 2). Unrolling (S6) from the true
state h_prev^(i) = h_{s_i} at the shard's start:

    h_t = (Π_{s_i < r ≤ t} a_r) · h_prev^(i) + h^0_t = exp(A · Σ_{s_i < r ≤ t} Δ_r) · h_prev^(i) + h^0_t

because every term of h^0_t is exactly the zero-state contribution. With a constant A this is the paper's
``A^i h_corrected``; here the "power" is the cumulative decay P^(i)_t = exp(A·cumΔ_t), which depends on the input.

* Eq. 3 (states): with the shard's whole decay P^(i) = exp(A · Σ_{r in shard i} Δ_r) and its local final state
  h^(i) = h^0_{s_{i+1}}, the true states at the shard boundaries follow the exclusive scan over ranks

      h_prev^(0) = h_init (zero, or the state carried from a previous sub-sequence)
      h_prev^(i+1) = P^(i) · h_prev^(i) + h^(i)

  Each rank needs only (h^(j), log P^(j)) of the ranks before it: O(B·E·N) numbers per rank and layer, never O(L).
* Eq. 4 (outputs): y_t = C_t · h_t = y^0_t + C_t · (P^(i)_t · h_prev^(i)), i.e. the correction term

      Δy_t[e] = Σ_n C_t[n] · exp(A[e, n] · cumΔ_t[e]) · h_prev^(i)[e, n].

  This is exactly the scan (S6) run with zero input (X = 0) from the initial state h_prev^(i), which is how
  :func:`state_correction` computes it: with the same fp32 kernels (C on CPU, chunked torch elsewhere), O(B·E·N)
  memory per position block and exact gradients w.r.t. Δ, A, C and h_prev.

Mamba's mixer output is out_proj((y + D·u) ⊙ silu(z)): linear in y, so the corrected layer output is the local output
plus out_proj_without_bias(Δy ⊙ silu(z)); :mod:`.sequence_parallel` adds that term.
"""

from __future__ import annotations

import torch

from ..modeling.scan import selective_scan


def shard_log_decay(delta: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """log P of a shard (Eq. 3): A · Σ_t Δ_t, shape (B, E, N), from delta (B, E, T) and A (E, N). Always ≤ 0."""
    return delta.float().sum(-1).unsqueeze(-1) * A.float()[None]


def boundary_states(
    local_states: list[torch.Tensor], log_decays: list[torch.Tensor], initial_state: torch.Tensor | None = None
) -> list[torch.Tensor]:
    """Eq. 3: the true state entering each shard, and after the last one.

    Args:
        local_states: per shard i, h^(i) (B, E, N): its final state computed from a zero state.
        log_decays: per shard i, log P^(i) (B, E, N) from :func:`shard_log_decay`.
        initial_state: the state before shard 0 (``None`` = zeros).

    Returns ``V + 1`` states: element i (i < V) is h_prev^(i), the last is the state after the whole sequence.
    """
    state = torch.zeros_like(local_states[0]) if initial_state is None else initial_state.float()
    out = [state]
    for local, log_decay in zip(local_states, log_decays):
        state = torch.exp(log_decay) * state + local
        out.append(state)
    return out


def state_correction(delta: torch.Tensor, A: torch.Tensor, C: torch.Tensor, h_prev: torch.Tensor) -> torch.Tensor:
    """Eq. 4: Δy_t = Σ_n C_t[n] · exp(A · cumΔ_t) · h_prev, shape (B, E, T), from delta (B, E, T), A (E, N),
    C (B, N, T) and h_prev (B, E, N) — the scan with zero input started from h_prev."""
    batch, channels, length = delta.shape
    zeros_u = delta.new_zeros(batch, channels, length)
    zeros_B = C.new_zeros(C.shape)
    correction, _ = selective_scan(zeros_u, delta, A, zeros_B, C, initial_state=h_prev)
    return correction


def state_correction_reference(delta, A, C, h_prev) -> torch.Tensor:
    """The closed form of :func:`state_correction`, materialising (B, E, T, N): for tests on small inputs."""
    cumulative = torch.cumsum(delta.float(), dim=-1)  # (B, E, T)
    decay = torch.exp(cumulative.unsqueeze(-1) * A.float()[None, :, None, :])  # (B, E, T, N)
    return (decay * h_prev.float()[:, :, None, :] * C.float().transpose(1, 2)[:, None]).sum(-1)


__all__ = ["shard_log_decay", "boundary_states", "state_correction", "state_correction_reference"]
