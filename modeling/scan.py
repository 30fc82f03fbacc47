"""The selective scan (Mamba's S6 recurrence): the one place where the SSM state is computed.

For every channel e and state index n the recurrence is (Gu & Dao 2023, Alg. 2)

    h_t[e, n] = exp(Δ_t[e] · A[e, n]) · h_{t-1}[e, n] + Δ_t[e] · B_t[n] · u_t[e]
    y_t[e]    = Σ_n C_t[n] · h_t[e, n]                     (+ D[e]·u_t[e] and the z gate, applied by the caller)

Two implementations live here:

* :func:`selective_scan_reference` — the naive sequential loop, one position at a time. Slow; it is the independent
  reference the tests compare against.
* :func:`selective_scan` — this package's scan. On CPU it runs the C kernel described at the end when that is
  available; otherwise (and on every other device) the chunked torch scan: it walks the sequence in chunks of
  ``chunk_size`` positions and solves each chunk in closed form with cumulative sums (below), so the largest temporary
  is O(B·E·chunk·N) and never O(B·E·L·N). Backward is a custom autograd function that stores only the inputs and one
  state per chunk and recomputes each chunk in reverse order with the adjoint recurrence (also in closed form), so
  training memory is bounded the same way.

Closed form of one chunk. With S_t = Σ_{s≤t} Δ_s·A (cumulative log decay inside the chunk, S_t ≤ 0) and
X_s = Δ_s·B_s·u_s:

    h_t = exp(S_t) · h_0 + Σ_{s≤t} exp(S_t − S_s) · X_s  =  exp(S_t) · (h_0 + cumsum_s(exp(−S_s) · X_s))

exp(−S_s) grows with the decay inside the chunk; when the total decay of a chunk exceeds ``_MAX_LOG_DECAY`` the chunk is
split in halves (recursively, down to single steps, where the formula is exact), so fp32 never overflows, whatever Δ.
The equivalent state-passing view — a chunk needs only the previous chunk's final state — is the same algebra as the
sequence-parallel state correction of the paper (Eq. 1–4), which lives in ``bytevid_hf.parallel``.

C path (CPU). For fp32 CPU tensors :func:`selective_scan` calls a plain C kernel (``csrc/selective_scan.c``, compiled
on first use with the system C compiler into a per-user cache and loaded with ctypes; see :mod:`.scan_kernel`). Its
forward walks the sequence step by step for every (batch, channel) pair in parallel (OpenMP) with the N states in
registers, storing the state every 64 positions; its backward recomputes those blocks in reverse and runs the adjoint
recurrence of :func:`_scan_chunk_backward` step by step, reducing over channels in a fixed order, so results match
the reference and do not depend on the thread count. When no compiler is available or the build fails, one warning is
logged and the chunked torch scan (:class:`_ChunkedSelectiveScan`, the portable path, also used on GPUs without
mamba-ssm) runs instead. ``BYTEVID_SCAN_KERNEL=torch`` forces the torch scan, ``=c`` requires the C kernel.
"""

from __future__ import annotations

import torch

from .scan_kernel import c_selective_scan, use_c_kernel

# exp(60) ≈ 1.1e26: products with inputs of size up to ~1e12 stay finite in fp32.
_MAX_LOG_DECAY = 60.0


def _check_shapes(u, delta, A, B, C, initial_state):
    if u.dim() != 3:
        raise ValueError(f"selective scan: u must be (batch, channels, length), got shape {tuple(u.shape)}")
    batch, channels, length = u.shape
    if delta.shape != u.shape:
        raise ValueError(f"selective scan: delta shape {tuple(delta.shape)} must equal u shape {tuple(u.shape)}")
    if A.dim() != 2 or A.shape[0] != channels:
        raise ValueError(f"selective scan: A must be (channels={channels}, state), got {tuple(A.shape)}")
    state = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        if t.shape != (batch, state, length):
            raise ValueError(
                f"selective scan: {name} must be (batch={batch}, state={state}, length={length}), got {tuple(t.shape)}"
            )
    if initial_state is not None and initial_state.shape != (batch, channels, state):
        raise ValueError(
            f"selective scan: initial_state must be (batch={batch}, channels={channels}, state={state}), "
            f"got {tuple(initial_state.shape)}"
        )


def selective_scan_reference(u, delta, A, B, C, initial_state=None):
    """Naive sequential recurrence (fp32), one position at a time.

    Shapes: u, delta (B, E, L); A (E, N); B, C (B, N, L); initial_state (B, E, N) or None.
    Returns ``(y, final_state)`` with y (B, E, L) and final_state (B, E, N). ``delta`` is used as given (apply softplus
    and the bias before calling).
    """
    _check_shapes(u, delta, A, B, C, initial_state)
    u, delta, A, B, C = (t.float() for t in (u, delta, A, B, C))
    batch, channels, length = u.shape
    h = u.new_zeros(batch, channels, A.shape[1]) if initial_state is None else initial_state.float()
    ys = []
    for t in range(length):
        decay = torch.exp(delta[:, :, t, None] * A)  # (B, E, N)
        h = decay * h + (delta[:, :, t] * u[:, :, t])[:, :, None] * B[:, None, :, t]
        ys.append((h * C[:, None, :, t]).sum(-1))  # (B, E)
    y = torch.stack(ys, dim=-1) if ys else u.new_zeros(batch, channels, 0)
    return y, h


def _scan_chunk(u, delta, A, B, C, h0):
    """Closed-form scan of one chunk (see the module docstring).

    u, delta: (B, E, T); A: (E, N); B, C: (B, N, T); h0: (B, E, N). Returns y (B, E, T) and h_T (B, E, N).
    """
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


def _needs_split(log_decay: torch.Tensor) -> bool:
    return log_decay.shape[2] > 1 and bool(log_decay.abs().amax() > _MAX_LOG_DECAY)


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


class _ChunkedSelectiveScan(torch.autograd.Function):
    """Chunked scan; backward recomputes each chunk from its saved starting state (one (B, E, N) per chunk)."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, h0, chunk_size):
        length = u.shape[-1]
        y = u.new_empty(u.shape)
        chunk_states = []
        h = h0
        for start in range(0, length, chunk_size):
            end = min(start + chunk_size, length)
            chunk_states.append(h)
            y[..., start:end], h = _scan_chunk(
                u[..., start:end], delta[..., start:end], A, B[..., start:end], C[..., start:end], h
            )
        ctx.chunk_size = chunk_size
        ctx.save_for_backward(u, delta, A, B, C, *chunk_states)
        return y, h

    @staticmethod
    def backward(ctx, grad_y, grad_h_last):
        u, delta, A, B, C, *chunk_states = ctx.saved_tensors
        chunk_size = ctx.chunk_size
        length = u.shape[-1]
        grad_u, grad_delta = torch.empty_like(u), torch.empty_like(delta)
        grad_B, grad_C = torch.empty_like(B), torch.empty_like(C)
        grad_A = torch.zeros_like(A)
        grad_h = torch.zeros_like(chunk_states[0]) if grad_h_last is None else grad_h_last
        if grad_y is None:
            grad_y = torch.zeros_like(u)
        for index in reversed(range(len(chunk_states))):
            start = index * chunk_size
            end = min(start + chunk_size, length)
            grads = _scan_chunk_backward(
                u[..., start:end], delta[..., start:end], A, B[..., start:end], C[..., start:end],
                chunk_states[index], grad_y[..., start:end], grad_h,
            )
            grad_u[..., start:end] = grads[0]
            grad_delta[..., start:end] = grads[1]
            grad_A += grads[2]
            grad_B[..., start:end] = grads[3]
            grad_C[..., start:end] = grads[4]
            grad_h = grads[5]
        return grad_u, grad_delta, grad_A, grad_B, grad_C, grad_h, None


def selective_scan(u, delta, A, B, C, initial_state=None, chunk_size: int = 64):
    """Chunked selective scan in fp32 with bounded memory; exact against :func:`selective_scan_reference`.

    Args:
        u: (B, E, L) input after the causal convolution and activation.
        delta: (B, E, L) time steps Δ, already through softplus (and its bias).
        A: (E, N) state matrix (negative: ``-exp(A_log)``).
        B, C: (B, N, L) input-dependent input and output projections.
        initial_state: optional (B, E, N) state before position 0 (e.g. carried from a previous chunk of the video).
        chunk_size: positions solved at once by the torch path; its peak temporary memory is about
            6·B·E·chunk_size·N floats. The C kernel (CPU) ignores it: it keeps one state per 64 positions.

    Returns:
        ``(y, final_state)``: y (B, E, L) in fp32 and the state after the last position, (B, E, N) in fp32.
    """
    _check_shapes(u, delta, A, B, C, initial_state)
    if chunk_size < 1:
        raise ValueError(f"selective scan: chunk_size must be >= 1, got {chunk_size}")
    u, delta, A, B, C = (t.float() for t in (u, delta, A, B, C))
    batch, channels, _ = u.shape
    if initial_state is None:
        initial_state = u.new_zeros(batch, channels, A.shape[1])
    else:
        initial_state = initial_state.float()
    if u.shape[-1] == 0:
        return u.new_zeros(u.shape), initial_state
    if use_c_kernel(u, delta, A, B, C, initial_state):
        return c_selective_scan(u, delta, A, B, C, initial_state)
    return _ChunkedSelectiveScan.apply(u, delta, A, B, C, initial_state, int(chunk_size))


def load_cuda_kernels():
    """mamba-ssm's fused selective scan and causal-conv1d's conv, or ``None`` when they are not installed.

    Returns ``(causal_conv1d_fn, selective_scan_fn)``. These kernels run only on CUDA tensors (``pip install
    'bytevid-hf[cuda]'``); the torch scan above is the path everywhere else.
    """
    try:
        from causal_conv1d import causal_conv1d_fn
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception:  # ImportError, or a broken CUDA build raising at import time
        return None
    return causal_conv1d_fn, selective_scan_fn


def cuda_backend_available() -> bool:
    """True when CUDA is usable and mamba-ssm + causal-conv1d import."""
    return torch.cuda.is_available() and load_cuda_kernels() is not None


__all__ = ["selective_scan", "selective_scan_reference", "load_cuda_kernels", "cuda_backend_available"]
