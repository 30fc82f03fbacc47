"""The chunked torch selective scan: the portable backend of :func:`.scan.selective_scan` (any device, fp32).

It walks the sequence in chunks of ``chunk_size`` positions and solves each chunk in closed form with cumulative
sums, so the largest temporary is O(B·E·chunk·N) and never O(B·E·L·N). With S_t = Σ_{s≤t} Δ_s·A (cumulative log
decay inside the chunk, S_t ≤ 0) and X_s = Δ_s·B_s·u_s:

    h_t = exp(S_t) · h_0 + Σ_{s≤t} exp(S_t − S_s) · X_s  =  exp(S_t) · (h_0 + cumsum_s(exp(−S_s) · X_s))

exp(−S_s) grows with the decay inside the chunk; when the total decay of a chunk exceeds ``_MAX_LOG_DECAY`` the chunk is
split in halves (recursively, down to single steps, where the formula is exact), so fp32 never overflows, whatever Δ.

Backward stores only the inputs and one state per chunk and recomputes each chunk in reverse order with the adjoint
recurrence (also in closed form), so training memory is bounded the same way.

Both directions are ``torch.library`` custom ops (``bytevid::torch_scan_fwd`` / ``_bwd``) with fake implementations:
``torch.compile`` and ``torch.export`` see one opaque op with known output shapes, not the chunk loop and its
data-dependent split decision.
"""

from __future__ import annotations

import torch
from torch import Tensor

# exp(60) ≈ 1.1e26: products with inputs of size up to ~1e12 stay finite in fp32.
_MAX_LOG_DECAY = 60.0
_OP_VERSION = "v1"


def _needs_split(log_decay: Tensor) -> bool:
    return log_decay.shape[2] > 1 and bool(log_decay.abs().amax() > _MAX_LOG_DECAY)


def _scan_chunk(u, delta, A, B, C, h0):
    """Closed-form scan of one chunk. u, delta: (B, E, T); A: (E, N); B, C: (B, N, T); h0: (B, E, N).
    Returns y (B, E, T) and h_T (B, E, N)."""
    log_decay = torch.cumsum(delta.unsqueeze(-1) * A[:, None, :], dim=2)  # S: (B, E, T, N)
    length = u.shape[-1]
    if _needs_split(log_decay):
        half = length // 2
        y1, h1 = _scan_chunk(u[..., :half], delta[..., :half], A, B[..., :half], C[..., :half], h0)
        y2, h2 = _scan_chunk(u[..., half:], delta[..., half:], A, B[..., half:], C[..., half:], h1)
        return torch.cat((y1, y2), dim=-1), h2
    B_t = B.transpose(1, 2).unsqueeze(1)  # (B, 1, T, N)
    C_t = C.transpose(1, 2).unsqueeze(1)  # (B, 1, T, N)
    inputs = (delta * u).unsqueeze(-1) * B_t  # X: (B, E, T, N)
    if length == 1:  # exact single step, no exp(-S) needed
        states = torch.exp(log_decay) * h0.unsqueeze(2) + inputs
    else:
        states = torch.exp(log_decay) * (h0.unsqueeze(2) + torch.cumsum(torch.exp(-log_decay) * inputs, dim=2))
    y = (states * C_t).sum(-1)  # (B, E, T)
    return y, states[:, :, -1]


def _scan_chunk_backward(u, delta, A, B, C, h0, grad_y, grad_h):
    """Gradients of :func:`_scan_chunk` through the adjoint recurrence.

    With a_t = exp(Δ_t·A) the forward is h_t = a_t·h_{t-1} + X_t. Its adjoint runs backwards:
    λ_t = ∂L/∂h_t = C_t·gy_t + a_{t+1}·λ_{t+1} (plus the incoming grad_h at the last position), solved in the same
    closed form as the forward: λ_t = exp(−S_t) · Σ_{s≥t} exp(S_s)·(C_s·gy_s). Then
    ∂L/∂X_t = λ_t, ∂L/∂(Δ_t·A) = λ_t·h_{t-1}·a_t and ∂L/∂h_0 = a_1·λ_1.
    Returns grads for (u, delta, A, B, C, h0).
    """
    log_decay = torch.cumsum(delta.unsqueeze(-1) * A[:, None, :], dim=2)  # S: (B, E, T, N)
    if _needs_split(log_decay):
        half = u.shape[-1] // 2
        first = (u[..., :half], delta[..., :half], A, B[..., :half], C[..., :half])
        second = (u[..., half:], delta[..., half:], A, B[..., half:], C[..., half:])
        _, h_mid = _scan_chunk(*first, h0)
        g2 = _scan_chunk_backward(*second, h_mid, grad_y[..., half:], grad_h)
        g1 = _scan_chunk_backward(*first, h0, grad_y[..., :half], g2[5])
        return (
            torch.cat((g1[0], g2[0]), -1),
            torch.cat((g1[1], g2[1]), -1),
            g1[2] + g2[2],
            torch.cat((g1[3], g2[3]), -1),
            torch.cat((g1[4], g2[4]), -1),
            g1[5],
        )
    B_t = B.transpose(1, 2).unsqueeze(1)  # (B, 1, T, N)
    C_t = C.transpose(1, 2).unsqueeze(1)  # (B, 1, T, N)
    delta_u = delta * u  # (B, E, T)
    decay = torch.exp(log_decay)  # exp(S)
    grad_states = grad_y.unsqueeze(-1) * C_t  # (B, E, T, N)
    grad_states[:, :, -1] += grad_h
    if u.shape[-1] == 1:  # single step: exact, no exp(-S) (which may overflow when the step alone decays > 60)
        states = decay * h0.unsqueeze(2) + delta_u.unsqueeze(-1) * B_t
        adjoint = grad_states
    else:
        inv_decay = torch.exp(-log_decay)  # exp(-S)
        states = decay * (h0.unsqueeze(2) + torch.cumsum(inv_decay * (delta_u.unsqueeze(-1) * B_t), dim=2))  # h_t
        adjoint = inv_decay * torch.flip(torch.cumsum(torch.flip(decay * grad_states, (2,)), dim=2), (2,))  # λ_t
    prev_states = torch.cat((h0.unsqueeze(2), states[:, :, :-1]), dim=2)  # h_{t-1}
    step_decay = torch.exp(delta.unsqueeze(-1) * A[:, None, :])  # a_t
    grad_log_step = adjoint * prev_states * step_decay  # ∂L/∂(Δ_t·A): (B, E, T, N)
    adjoint_B = (adjoint * B_t).sum(-1)  # (B, E, T)
    grad_u = delta * adjoint_B
    grad_delta = (grad_log_step * A[:, None, :]).sum(-1) + u * adjoint_B
    grad_A = (grad_log_step * delta.unsqueeze(-1)).sum((0, 2))  # (E, N)
    grad_B = (adjoint * delta_u.unsqueeze(-1)).sum(1).transpose(1, 2)  # (B, N, T)
    grad_C = (states * grad_y.unsqueeze(-1)).sum(1).transpose(1, 2)  # (B, N, T)
    grad_h0 = step_decay[:, :, 0] * adjoint[:, :, 0]
    return grad_u, grad_delta, grad_A, grad_B, grad_C, grad_h0


def _num_chunks(length, chunk_size: int):
    return (length + chunk_size - 1) // chunk_size


@torch.library.custom_op(f"bytevid::torch_scan_fwd_{_OP_VERSION}", mutates_args=())
def torch_scan_forward(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, h0: Tensor, chunk_size: int
) -> tuple[Tensor, Tensor, Tensor]:
    """(y (B, E, L), h_L (B, E, N), chunk_states (ceil(L / chunk_size), B, E, N)) from fp32 u, delta (B, E, L),
    A (E, N), B, C (B, N, L), h0 (B, E, N); chunk_states[c] is the state entering chunk c (kept for backward)."""
    length = u.shape[-1]
    y = u.new_empty(u.shape)  # contiguous outputs, whatever the inputs' strides (as the fake implementation says)
    states = u.new_empty(_num_chunks(length, chunk_size), *h0.shape)
    h = h0
    for index, start in enumerate(range(0, length, chunk_size)):
        end = min(start + chunk_size, length)
        states[index] = h
        y[..., start:end], h = _scan_chunk(
            u[..., start:end], delta[..., start:end], A, B[..., start:end], C[..., start:end], h
        )
    return y, h.clone(), states


@torch_scan_forward.register_fake
def _(u, delta, A, B, C, h0, chunk_size):
    return u.new_empty(u.shape), u.new_empty(h0.shape), u.new_empty(_num_chunks(u.shape[-1], chunk_size), *h0.shape)


@torch.library.custom_op(f"bytevid::torch_scan_bwd_{_OP_VERSION}", mutates_args=())
def torch_scan_backward(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, states: Tensor, grad_y: Tensor, grad_h: Tensor,
    chunk_size: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Gradients (u, delta, A, B, C, h0) of :func:`torch_scan_forward`, recomputing chunk by chunk in reverse."""
    length = u.shape[-1]
    grad_u, grad_delta = u.new_empty(u.shape), u.new_empty(delta.shape)  # contiguous, as the fake says
    grad_B, grad_C = u.new_empty(B.shape), u.new_empty(C.shape)
    grad_A = u.new_zeros(A.shape)
    for index in reversed(range(states.shape[0])):
        start = index * chunk_size
        end = min(start + chunk_size, length)
        grads = _scan_chunk_backward(
            u[..., start:end], delta[..., start:end], A, B[..., start:end], C[..., start:end],
            states[index], grad_y[..., start:end], grad_h,
        )
        grad_u[..., start:end] = grads[0]
        grad_delta[..., start:end] = grads[1]
        grad_A += grads[2]
        grad_B[..., start:end] = grads[3]
        grad_C[..., start:end] = grads[4]
        grad_h = grads[5]
    return grad_u, grad_delta, grad_A, grad_B, grad_C, grad_h.contiguous().clone()


@torch_scan_backward.register_fake
def _(u, delta, A, B, C, states, grad_y, grad_h, chunk_size):
    return tuple(u.new_empty(t.shape) for t in (u, delta, A, B, C, grad_h))


def _setup_context(ctx, inputs, output):
    u, delta, A, B, C, _, chunk_size = inputs
    ctx.save_for_backward(u, delta, A, B, C, output[2])
    ctx.chunk_size = chunk_size


def _backward(ctx, grad_y, grad_h, _grad_states):
    u, delta, A, B, C, states = ctx.saved_tensors
    grad_y = torch.zeros_like(u) if grad_y is None else grad_y.contiguous()
    grad_h = states.new_zeros(states.shape[1:]) if grad_h is None else grad_h.contiguous()
    grads = torch_scan_backward(u, delta, A, B, C, states, grad_y, grad_h, ctx.chunk_size)
    return (*grads, None)


torch_scan_forward.register_autograd(_backward, setup_context=_setup_context)


def torch_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, h0: Tensor, chunk_size: int = 64):
    """The chunked scan on fp32 tensors of any device: ``(y, h_L)``; differentiable in every input."""
    if chunk_size < 1:
        raise ValueError(f"selective scan: chunk_size must be >= 1, got {chunk_size}")
    y, h_last, _ = torch_scan_forward(u, delta, A, B, C, h0, int(chunk_size))
    return y, h_last


__all__ = ["torch_scan", "torch_scan_forward", "torch_scan_backward"]
