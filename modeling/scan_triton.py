"""The Triton backend of :func:`.scan.selective_scan`: forward and backward kernels for CUDA tensors (and for CPU
tensors under Triton's interpreter, ``TRITON_INTERPRET=1``, which is how the tests run it without a GPU).

What it computes — the whole interface, fused: for every batch b, channel e, state n and position t,

    Δ_t = softplus(delta_t + delta_bias)   (or delta_t + delta_bias)
    h_t = exp(Δ_t·A[e, n]) · h_{t-1} + Δ_t·B_t[n]·u_t,        h_{-1} = initial state (or 0)
    y_t = (Σ_n C_t[n]·h_t + D·u_t) · silu(z_t)

with y in u's dtype, states in fp32 (inputs may be fp32, bf16 or fp16; every product and sum is taken in fp32), the
final state h_{L-1} returned, and gradients for u, delta (through softplus and the bias), A, B, C, D, z, delta_bias and
the initial state, taking the gradient of the final state as well (mamba-ssm's Mamba-1 kernel has neither state).

Chunking. Time is cut into chunks of ``chunk_size`` positions (a power of two, 64 by default). Inside a chunk the
recurrence is solved in parallel by ``tl.associative_scan`` over (decay, input) pairs, whose combine
(a₁, b₁) ∘ (a₂, b₂) = (a₁·a₂, a₂·b₁ + b₂) only multiplies decays in [0, 1]: a decay exp(Δ·A) with Δ·A very negative
underflows to exactly 0 and nothing can overflow (no exp(−S) rescaling, whatever Δ and A).

Kernels, each on [channel block, chunk, state] tiles (u, delta, z, y are read and written through their strides, so
the mixer's transposed views are never copied; y and every gradient are written contiguous):

* forward — one program per (batch, block of ``block_e`` channels), walking the chunks in order with the
  (block_e, N) fp32 state in registers; it writes y and the final state and, when autograd records, the state entering
  every chunk: (B, ceil(L/chunk), E, N) fp32, i.e. E·N/chunk floats per position (a quarter of u's size at N = 16,
  chunk = 64), never O(B·E·N·L).
* backward, pass 1 (adjoint carries) — one program per (batch, channel block), walking the chunks in reverse with the
  adjoint λ_t = ∂loss/∂h_t = C_t·gy'_t + exp(Δ_{t+1}·A)·λ_{t+1} (gy' = gy·silu(z); λ at the last position also takes
  the final state's gradient). It stores the adjoint entering every chunk from its right (same size as the saved
  states); what leaves position 0, exp(Δ_0·A)·λ_0, is the initial state's gradient.
* backward, pass 2 (gradients) — one program per (batch, chunk): from the chunk's saved state and adjoint carry it
  recomputes h_{t-1} (a scan), h_t and λ_t (a reverse scan) for every channel block in turn and writes the gradients.
  The gradients of B and C sum over channels: each program owns its chunk of positions and sums its channel blocks
  in registers in a fixed order, so no atomics and no (channel blocks × L) partial buffers. The gradients of A, D and
  delta_bias sum over batch and positions: each program writes its (chunk's) partial sums, and one torch ``.sum``
  reduces them. Every result is deterministic.

Both directions are ``torch.library`` custom ops (``bytevid::triton_scan_fwd`` / ``_bwd``) with fake implementations,
like the other backends. Nothing here needs a GPU or compiles anything at import (a kernel compiles on its first
launch), and without triton the module imports and the backend reports itself unavailable. Triton decides whether it
interprets when it is imported (its own library functions are decorated then), so ``TRITON_INTERPRET=1`` must be set
before the first ``import triton`` of the process; the tests run the interpreted checks in a subprocess for that.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

# Optional: without triton the backend is unavailable. (transformers' remote-code loader does not require packages
# imported inside a try block.)
try:
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - triton ships with CUDA builds of torch on Linux
    triton = tl = None

# Decorating defines a kernel; it compiles on its first launch. Without triton the functions stay plain (and unused).
_jit = triton.jit if triton is not None else (lambda fn: fn)
_INTERPRETED = triton is not None and bool(triton.knobs.runtime.interpret)  # what _jit did (read once, as triton does)

_OP_VERSION = "v1"

#: Positions per chunk (a state is saved for backward at the start of each), channels per program and warps per program.
#: Not tuned: no GPU has run these kernels yet; a GPU benchmark should sweep them.
CHUNK_SIZE = 64
BLOCK_E = 4
NUM_WARPS = 8


# ----------------------------------------------------------------------------------------------------------------------
# availability
# ----------------------------------------------------------------------------------------------------------------------


def interpreting() -> bool:
    """True when Triton's interpreter runs the kernels (``TRITON_INTERPRET=1`` when this module was imported): then CPU
    tensors are accepted too."""
    return _INTERPRETED


def triton_available() -> bool:
    """True when triton imports and kernels can run: a CUDA GPU, or the interpreter."""
    return triton is not None and (interpreting() or torch.cuda.is_available())


def backend_devices() -> tuple[str, ...]:
    """The tensor devices the backend takes: CUDA, and CPU as well under the interpreter."""
    return ("cuda", "cpu") if interpreting() else ("cuda",)


# ----------------------------------------------------------------------------------------------------------------------
# Triton code. Tiles are [e, t, n] = [channel block, chunk positions, states]; u, Δ, z, y tiles are [e, t]; B and C
# tiles are [t, n].
# ----------------------------------------------------------------------------------------------------------------------


@_jit
def _combine(a1, b1, a2, b2):
    """Two steps of h ↦ a·h + b, the first (in scan order) then the second."""
    return a1 * a2, a2 * b1 + b2


@_jit
def _sigmoid(x):
    e = tl.exp(-tl.abs(x))  # never overflows
    r = 1.0 / (1.0 + e)
    return tl.where(x >= 0, r, e * r)


@_jit
def _time_step(delta_ptr, offsets, mask, bias, SOFTPLUS: tl.constexpr, HAS_BIAS: tl.constexpr):
    """Δ (fp32) and dΔ/d(delta) on a tile: softplus(delta + bias) as torch computes it (the identity above 20)."""
    v = tl.load(delta_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    if HAS_BIAS:
        v = v + bias
    dt = v
    slope = tl.full(v.shape, 1.0, tl.float32)
    if SOFTPLUS:
        w = tl.exp(tl.minimum(v, 20.0))
        s = 1.0 + w
        # log1p(w) to full precision even where 1 + w rounds (w ≪ 1): log(s)·w/(s − 1), and w itself where s == 1
        log1p = tl.where(s == 1.0, w, tl.log(s) * (w / tl.where(s == 1.0, 1.0, s - 1.0)))
        dt = tl.where(v > 20.0, v, log1p)
        slope = tl.where(v > 20.0, 1.0, w / s)
    return dt, slope


@_jit
def _channel_block(A_ptr, bias_ptr, e, n, E, N, HAS_BIAS: tl.constexpr):
    """For the channels e (and states n): their masks, offsets in a contiguous (E, N), A, and delta_bias (or 0)."""
    mask_e = e < E
    mask_en = mask_e[:, None] & (n < N)[None, :]
    en = e[:, None] * N + n[None, :]
    A = tl.load(A_ptr + en, mask=mask_en, other=0.0)
    bias = tl.zeros(e.shape, tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + e, mask=mask_e, other=0.0)
    return mask_e, mask_en, en, A, bias


@_jit
def _forward_kernel(
    u_ptr, delta_ptr, z_ptr, A_ptr, B_ptr, C_ptr, D_ptr, bias_ptr, h0_ptr, y_ptr, h_last_ptr, states_ptr,
    su_b, su_e, su_l, sd_b, sd_e, sd_l, sz_b, sz_e, sz_l, sB_b, sB_n, sB_l, sC_b, sC_n, sC_l,
    E, N, L, n_chunks,
    HAS_Z: tl.constexpr, HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_H0: tl.constexpr, SOFTPLUS: tl.constexpr,
    SAVE_STATES: tl.constexpr, BLOCK_E: tl.constexpr, BLOCK_N: tl.constexpr, T: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    e = tl.program_id(1).to(tl.int64) * BLOCK_E + tl.arange(0, BLOCK_E).to(tl.int64)
    n = tl.arange(0, BLOCK_N)
    mask_n = n < N
    mask_e, mask_en, en, A, bias = _channel_block(A_ptr, bias_ptr, e, n, E, N, HAS_BIAS)
    if HAS_H0:
        h = tl.load(h0_ptr + b * E * N + en, mask=mask_en, other=0.0)
    else:
        h = tl.zeros((BLOCK_E, BLOCK_N), tl.float32)
    local = tl.arange(0, T)
    first, last = (local == 0)[None, :, None], (local == T - 1)[None, :, None]
    for c in range(n_chunks):
        if SAVE_STATES:
            tl.store(states_ptr + (b * n_chunks + c) * E * N + en, h, mask=mask_en)
        t = c * T + local.to(tl.int64)
        mask_t = t < L
        mask_et = mask_e[:, None] & mask_t[None, :]
        u = tl.load(u_ptr + b * su_b + e[:, None] * su_e + t[None, :] * su_l, mask=mask_et, other=0.0).to(tl.float32)
        d_off = b * sd_b + e[:, None] * sd_e + t[None, :] * sd_l
        dt, _ = _time_step(delta_ptr, d_off, mask_et, bias[:, None], SOFTPLUS, HAS_BIAS)
        mask_tn = mask_t[:, None] & mask_n[None, :]
        Bt = tl.load(B_ptr + b * sB_b + n[None, :] * sB_n + t[:, None] * sB_l, mask=mask_tn, other=0.0).to(tl.float32)
        Ct = tl.load(C_ptr + b * sC_b + n[None, :] * sC_n + t[:, None] * sC_l, mask=mask_tn, other=0.0).to(tl.float32)
        decay = tl.where(mask_t[None, :, None], tl.exp(dt[:, :, None] * A[:, None, :]), 1.0)  # padding keeps h
        x = (dt * u)[:, :, None] * Bt[None, :, :]
        x = tl.where(first, decay * h[:, None, :] + x, x)  # the state entering the chunk
        _, states = tl.associative_scan((decay, x), 1, _combine)  # h_t: [e, t, n]
        y = tl.sum(states * Ct[None, :, :], 2)
        h = tl.sum(tl.where(last, states, 0.0), 1)
        if HAS_D:
            y += tl.load(D_ptr + e, mask=mask_e, other=0.0)[:, None] * u
        if HAS_Z:
            z = tl.load(z_ptr + b * sz_b + e[:, None] * sz_e + t[None, :] * sz_l, mask=mask_et, other=0.0)
            z = z.to(tl.float32)
            y = y * z * _sigmoid(z)
        tl.store(y_ptr + (b * E + e[:, None]) * L + t[None, :], y.to(y_ptr.dtype.element_ty), mask=mask_et)
    tl.store(h_last_ptr + b * E * N + en, h, mask=mask_en)


@_jit
def _adjoint_carries_kernel(
    delta_ptr, z_ptr, A_ptr, C_ptr, bias_ptr, gy_ptr, gh_ptr, carries_ptr, grad_h0_ptr,
    sd_b, sd_e, sd_l, sz_b, sz_e, sz_l, sC_b, sC_n, sC_l, sg_b, sg_e, sg_l,
    E, N, L, n_chunks,
    HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    BLOCK_E: tl.constexpr, BLOCK_N: tl.constexpr, T: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    e = tl.program_id(1).to(tl.int64) * BLOCK_E + tl.arange(0, BLOCK_E).to(tl.int64)
    n = tl.arange(0, BLOCK_N)
    mask_n = n < N
    mask_e, mask_en, en, A, bias = _channel_block(A_ptr, bias_ptr, e, n, E, N, HAS_BIAS)
    carry = tl.load(gh_ptr + b * E * N + en, mask=mask_en, other=0.0)  # adjoint entering the last chunk: ∂loss/∂h_L
    local = tl.arange(0, T)
    first, last = (local == 0)[None, :, None], (local == T - 1)[None, :, None]
    for i in range(n_chunks):
        c = n_chunks - 1 - i
        tl.store(carries_ptr + (b * n_chunks + c) * E * N + en, carry, mask=mask_en)
        t = c * T + local.to(tl.int64)
        mask_t = t < L
        mask_et = mask_e[:, None] & mask_t[None, :]
        gy = tl.load(gy_ptr + b * sg_b + e[:, None] * sg_e + t[None, :] * sg_l, mask=mask_et, other=0.0)
        gy = gy.to(tl.float32)
        if HAS_Z:
            z = tl.load(z_ptr + b * sz_b + e[:, None] * sz_e + t[None, :] * sz_l, mask=mask_et, other=0.0)
            z = z.to(tl.float32)
            gy = gy * z * _sigmoid(z)
        mask_tn = mask_t[:, None] & mask_n[None, :]
        Ct = tl.load(C_ptr + b * sC_b + n[None, :] * sC_n + t[:, None] * sC_l, mask=mask_tn, other=0.0).to(tl.float32)
        # position t's element couples λ_t to λ_{t+1} by exp(Δ_{t+1}·A) (1 at the chunk's end, where the carry enters)
        has_next = (local < T - 1)[None, :] & (t + 1 < L)[None, :] & mask_e[:, None]
        d_off = b * sd_b + e[:, None] * sd_e + (t + 1)[None, :] * sd_l
        dt_next, _ = _time_step(delta_ptr, d_off, has_next, bias[:, None], SOFTPLUS, HAS_BIAS)
        coupling = tl.where(has_next[:, :, None], tl.exp(dt_next[:, :, None] * A[:, None, :]), 1.0)
        g = gy[:, :, None] * Ct[None, :, :]
        g = tl.where(last, g + carry[:, None, :], g)
        _, adjoint = tl.associative_scan((coupling, g), 1, _combine, reverse=True)  # λ_t: [e, t, n]
        t_first = c * T + tl.zeros((BLOCK_E,), tl.int64)
        dt0, _ = _time_step(delta_ptr, b * sd_b + e * sd_e + t_first * sd_l, mask_e, bias, SOFTPLUS, HAS_BIAS)
        carry = tl.exp(dt0[:, None] * A) * tl.sum(tl.where(first, adjoint, 0.0), 1)  # exp(Δ_first·A)·λ_first
    tl.store(grad_h0_ptr + b * E * N + en, carry, mask=mask_en)


@_jit
def _chunk_gradients_kernel(
    u_ptr, delta_ptr, z_ptr, A_ptr, B_ptr, C_ptr, D_ptr, bias_ptr, gy_ptr, states_ptr, carries_ptr,
    grad_u_ptr, grad_delta_ptr, grad_z_ptr, grad_B_ptr, grad_C_ptr, part_A_ptr, part_D_ptr, part_bias_ptr,
    su_b, su_e, su_l, sd_b, sd_e, sd_l, sz_b, sz_e, sz_l, sB_b, sB_n, sB_l, sC_b, sC_n, sC_l, sg_b, sg_e, sg_l,
    E, N, L, n_chunks,
    HAS_Z: tl.constexpr, HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    BLOCK_E: tl.constexpr, BLOCK_N: tl.constexpr, T: tl.constexpr,
):
    c = tl.program_id(0).to(tl.int64)  # chunks on the grid's first axis: it alone may exceed 65,535
    b = tl.program_id(1).to(tl.int64)
    n = tl.arange(0, BLOCK_N)
    mask_n = n < N
    local = tl.arange(0, T)
    first, last = (local == 0)[None, :, None], (local == T - 1)[None, :, None]
    t = c * T + local.to(tl.int64)
    mask_t = t < L
    has_prev = (local > 0) & mask_t
    has_next = (local < T - 1) & (t + 1 < L)
    mask_tn = mask_t[:, None] & mask_n[None, :]
    Bt = tl.load(B_ptr + b * sB_b + n[None, :] * sB_n + t[:, None] * sB_l, mask=mask_tn, other=0.0).to(tl.float32)
    B_prev = tl.load(B_ptr + b * sB_b + n[None, :] * sB_n + (t - 1)[:, None] * sB_l,
                     mask=has_prev[:, None] & mask_n[None, :], other=0.0).to(tl.float32)
    Ct = tl.load(C_ptr + b * sC_b + n[None, :] * sC_n + t[:, None] * sC_l, mask=mask_tn, other=0.0).to(tl.float32)
    grad_B = tl.zeros((T, BLOCK_N), tl.float32)
    grad_C = tl.zeros((T, BLOCK_N), tl.float32)
    for block in range(tl.cdiv(E, BLOCK_E)):
        e = block * BLOCK_E + tl.arange(0, BLOCK_E).to(tl.int64)
        mask_e, mask_en, en, A, bias = _channel_block(A_ptr, bias_ptr, e, n, E, N, HAS_BIAS)
        mask_et = mask_e[:, None] & mask_t[None, :]
        start = tl.load(states_ptr + (b * n_chunks + c) * E * N + en, mask=mask_en, other=0.0)
        carry = tl.load(carries_ptr + (b * n_chunks + c) * E * N + en, mask=mask_en, other=0.0)
        u_off = b * su_b + e[:, None] * su_e
        d_off = b * sd_b + e[:, None] * sd_e
        u = tl.load(u_ptr + u_off + t[None, :] * su_l, mask=mask_et, other=0.0).to(tl.float32)
        mask_prev = mask_e[:, None] & has_prev[None, :]
        u_prev = tl.load(u_ptr + u_off + (t - 1)[None, :] * su_l, mask=mask_prev, other=0.0).to(tl.float32)
        bias_et = bias[:, None]
        dt, slope = _time_step(delta_ptr, d_off + t[None, :] * sd_l, mask_et, bias_et, SOFTPLUS, HAS_BIAS)
        dt_prev, _ = _time_step(delta_ptr, d_off + (t - 1)[None, :] * sd_l, mask_prev, bias_et, SOFTPLUS, HAS_BIAS)
        mask_next = mask_e[:, None] & has_next[None, :]
        dt_next, _ = _time_step(delta_ptr, d_off + (t + 1)[None, :] * sd_l, mask_next, bias_et, SOFTPLUS, HAS_BIAS)
        # h_{t-1}: the scan of position t−1's (decay, input), with the saved state in place of position −1's
        decay_prev = tl.where(mask_prev[:, :, None], tl.exp(dt_prev[:, :, None] * A[:, None, :]), 1.0)
        x_prev = tl.where(first, start[:, None, :], (dt_prev * u_prev)[:, :, None] * B_prev[None, :, :])
        _, h_prev = tl.associative_scan((decay_prev, x_prev), 1, _combine)
        decay = tl.exp(dt[:, :, None] * A[:, None, :])
        h = decay * h_prev + (dt * u)[:, :, None] * Bt[None, :, :]  # h_t
        gy = tl.load(gy_ptr + b * sg_b + e[:, None] * sg_e + t[None, :] * sg_l, mask=mask_et, other=0.0)
        gy = gy.to(tl.float32)
        if HAS_D:
            D = tl.load(D_ptr + e, mask=mask_e, other=0.0)[:, None]
        if HAS_Z:
            z = tl.load(z_ptr + b * sz_b + e[:, None] * sz_e + t[None, :] * sz_l, mask=mask_et, other=0.0)
            z = z.to(tl.float32)
            sig = _sigmoid(z)
            y = tl.sum(h * Ct[None, :, :], 2)
            if HAS_D:
                y += D * u
            grad_z = gy * y * sig * (1.0 + z * (1.0 - sig))
            tl.store(grad_z_ptr + (b * E + e[:, None]) * L + t[None, :], grad_z.to(grad_z_ptr.dtype.element_ty),
                     mask=mask_et)
            gy = gy * z * sig  # the gradient of the output before the gate
        # λ_t by the reverse scan, the carry entering at the chunk's end
        coupling = tl.where(mask_next[:, :, None], tl.exp(dt_next[:, :, None] * A[:, None, :]), 1.0)
        g = gy[:, :, None] * Ct[None, :, :]
        g = tl.where(last, g + carry[:, None, :], g)
        _, adjoint = tl.associative_scan((coupling, g), 1, _combine, reverse=True)
        adjoint = tl.where(mask_et[:, :, None], adjoint, 0.0)  # padding past L holds the carry: not a position
        grad_log_decay = adjoint * decay * h_prev  # ∂loss/∂(Δ_t·A)
        adjoint_B = tl.sum(adjoint * Bt[None, :, :], 2)
        grad_u = dt * adjoint_B
        if HAS_D:
            grad_u += gy * D
        grad_dt = (tl.sum(grad_log_decay * A[:, None, :], 2) + u * adjoint_B) * slope
        et = (b * E + e[:, None]) * L + t[None, :]
        tl.store(grad_u_ptr + et, grad_u.to(grad_u_ptr.dtype.element_ty), mask=mask_et)
        tl.store(grad_delta_ptr + et, grad_dt.to(grad_delta_ptr.dtype.element_ty), mask=mask_et)
        part = (b * n_chunks + c) * E
        tl.store(part_A_ptr + part * N + en, tl.sum(grad_log_decay * dt[:, :, None], 1), mask=mask_en)
        if HAS_D:
            tl.store(part_D_ptr + part + e, tl.sum(gy * u, 1), mask=mask_e)
        if HAS_BIAS:
            tl.store(part_bias_ptr + part + e, tl.sum(tl.where(mask_et, grad_dt, 0.0), 1), mask=mask_e)
        grad_B += tl.sum(adjoint * (dt * u)[:, :, None], 0)
        grad_C += tl.sum(h * gy[:, :, None], 0)
    tn = b * N * L + n[None, :] * L + t[:, None]
    tl.store(grad_B_ptr + tn, grad_B.to(grad_B_ptr.dtype.element_ty), mask=mask_tn)
    tl.store(grad_C_ptr + tn, grad_C.to(grad_C_ptr.dtype.element_ty), mask=mask_tn)


# ----------------------------------------------------------------------------------------------------------------------
# launching them: custom ops
# ----------------------------------------------------------------------------------------------------------------------


def _num_chunks(length, chunk_size: int):
    return (length + chunk_size - 1) // chunk_size


def _block_n(state: int) -> int:
    return max(2, triton.next_power_of_2(state))


def _strides(t: Tensor | None) -> tuple[int, int, int]:
    return (0, 0, 0) if t is None else tuple(t.stride())


def _small(t: Tensor | None, like: Tensor) -> Tensor:
    """A per-channel (or per-state) parameter as a contiguous fp32 tensor; ``like`` (never read) stands in for None."""
    return like if t is None else t.detach().float().contiguous()


def _check_device(u: Tensor) -> None:
    if triton is None:
        raise RuntimeError("the triton selective-scan backend needs the triton package")
    if u.device.type != "cuda" and not interpreting():
        raise RuntimeError(
            f"the triton selective scan runs on CUDA tensors (or under TRITON_INTERPRET=1), got {u.device} tensors")


@torch.library.custom_op(f"bytevid::triton_scan_fwd_{_OP_VERSION}", mutates_args=())
def triton_scan_forward(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Optional[Tensor], z: Optional[Tensor],
    delta_bias: Optional[Tensor], h0: Optional[Tensor], delta_softplus: bool, save_states: bool, chunk_size: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """(y (B, E, L) in u's dtype, h_L (B, E, N) fp32, states) of the fused scan, from u, delta, z (B, E, L) of any
    strides, A (E, N), B, C (B, N, L), D, delta_bias (E,) and h0 (B, E, N) (``None`` = zeros).

    ``states`` is (B, ceil(L / chunk_size), E, N) fp32, the state entering every chunk (kept for the backward), when
    ``save_states``, else empty."""
    _check_device(u)
    batch, channels, length = u.shape
    state = A.shape[1]
    n_chunks = _num_chunks(length, chunk_size)
    y = torch.empty(u.shape, dtype=u.dtype, device=u.device)
    h_last = u.new_empty(batch, channels, state, dtype=torch.float32)
    states = u.new_empty((batch, n_chunks, channels, state) if save_states else (0,), dtype=torch.float32)
    A32 = A.detach().float().contiguous()
    _forward_kernel[(batch, triton.cdiv(channels, BLOCK_E))](
        u, delta, u if z is None else z, A32, B, C, _small(D, A32), _small(delta_bias, A32), _small(h0, A32),
        y, h_last, states if save_states else h_last,
        *u.stride(), *delta.stride(), *_strides(z), *B.stride(), *C.stride(),
        channels, state, length, n_chunks,
        HAS_Z=z is not None, HAS_D=D is not None, HAS_BIAS=delta_bias is not None, HAS_H0=h0 is not None,
        SOFTPLUS=delta_softplus, SAVE_STATES=save_states, BLOCK_E=BLOCK_E, BLOCK_N=_block_n(state), T=chunk_size,
        num_warps=NUM_WARPS,
    )
    return y, h_last, states


@triton_scan_forward.register_fake
def _(u, delta, A, B, C, D, z, delta_bias, h0, delta_softplus, save_states, chunk_size):
    batch, channels, length = u.shape
    states_shape = (batch, _num_chunks(length, chunk_size), channels, A.shape[1]) if save_states else (0,)
    return (u.new_empty(u.shape), u.new_empty(batch, channels, A.shape[1], dtype=torch.float32),
            u.new_empty(states_shape, dtype=torch.float32))


@torch.library.custom_op(f"bytevid::triton_scan_bwd_{_OP_VERSION}", mutates_args=())
def triton_scan_backward(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Optional[Tensor], z: Optional[Tensor],
    delta_bias: Optional[Tensor], states: Tensor, grad_y: Tensor, grad_h: Tensor, delta_softplus: bool,
    chunk_size: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Gradients (u, delta, A, B, C, D, z, delta_bias, h0) of :func:`triton_scan_forward`, each in its input's dtype
    (h0's in fp32); those of absent optional inputs come back empty."""
    _check_device(u)
    batch, channels, length = u.shape
    state = A.shape[1]
    n_chunks = states.shape[1]
    A32 = A.detach().float().contiguous()
    D32, bias32 = _small(D, A32), _small(delta_bias, A32)
    grad_h = grad_h.detach().float().contiguous()
    meta = dict(BLOCK_E=BLOCK_E, BLOCK_N=_block_n(state), T=chunk_size, num_warps=NUM_WARPS)
    flags = dict(HAS_Z=z is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=delta_softplus)
    z_or_u = u if z is None else z

    def like(t: Tensor | None) -> Tensor:  # contiguous, in t's dtype
        return u.new_empty(0) if t is None else torch.empty(t.shape, dtype=t.dtype, device=u.device)

    carries = torch.empty_like(states)  # the adjoint entering every chunk from its right
    grad_h0 = torch.empty_like(grad_h)
    grad_u, grad_delta, grad_z, grad_B, grad_C = like(u), like(delta), like(z), like(B), like(C)
    if channels == 0:  # sums over no channels (the launches below have empty grids)
        grad_B.zero_(), grad_C.zero_()
    part_A = u.new_zeros(batch, n_chunks, channels, state, dtype=torch.float32)
    part_D = u.new_zeros(batch, n_chunks, channels, dtype=torch.float32) if D is not None else part_A
    part_bias = u.new_zeros(batch, n_chunks, channels, dtype=torch.float32) if delta_bias is not None else part_A
    _adjoint_carries_kernel[(batch, triton.cdiv(channels, BLOCK_E))](
        delta, z_or_u, A32, C, bias32, grad_y, grad_h, carries, grad_h0,
        *delta.stride(), *_strides(z), *C.stride(), *grad_y.stride(),
        channels, state, length, n_chunks, **flags, **meta,
    )
    _chunk_gradients_kernel[(n_chunks, batch)](
        u, delta, z_or_u, A32, B, C, D32, bias32, grad_y, states, carries,
        grad_u, grad_delta, grad_u if z is None else grad_z, grad_B, grad_C, part_A, part_D, part_bias,
        *u.stride(), *delta.stride(), *_strides(z), *B.stride(), *C.stride(), *grad_y.stride(),
        channels, state, length, n_chunks, HAS_D=D is not None, **flags, **meta,
    )
    # the partial sums (per batch and chunk) of A's, D's and delta_bias's gradients, reduced in a fixed order
    grad_A = part_A.sum((0, 1)).to(A.dtype)
    grad_D = part_D.sum((0, 1)).to(D.dtype) if D is not None else u.new_empty(0)
    grad_bias = part_bias.sum((0, 1)).to(delta_bias.dtype) if delta_bias is not None else u.new_empty(0)
    return grad_u, grad_delta, grad_A, grad_B, grad_C, grad_D, grad_z, grad_bias, grad_h0


@triton_scan_backward.register_fake
def _(u, delta, A, B, C, D, z, delta_bias, states, grad_y, grad_h, delta_softplus, chunk_size):
    empty = u.new_empty(0)
    return (
        u.new_empty(u.shape), delta.new_empty(delta.shape), A.new_empty(A.shape), B.new_empty(B.shape),
        C.new_empty(C.shape), empty if D is None else D.new_empty(D.shape),
        empty if z is None else z.new_empty(z.shape),
        empty if delta_bias is None else delta_bias.new_empty(delta_bias.shape),
        u.new_empty(grad_h.shape, dtype=torch.float32),
    )


def _setup_context(ctx, inputs, output):
    u, delta, A, B, C, D, z, delta_bias, h0, delta_softplus, _, chunk_size = inputs
    ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, output[2])
    ctx.has_h0, ctx.h0_dtype = h0 is not None, None if h0 is None else h0.dtype
    ctx.delta_softplus, ctx.chunk_size = delta_softplus, chunk_size


def _backward(ctx, grad_y, grad_h, _grad_states):
    u, delta, A, B, C, D, z, delta_bias, states = ctx.saved_tensors
    if states.dim() != 4:
        raise RuntimeError("triton selective scan: the forward kept no states for backward (save_states=False)")
    grad_y = torch.zeros_like(u) if grad_y is None else grad_y
    grad_h = states.new_zeros(u.shape[0], u.shape[1], A.shape[1]) if grad_h is None else grad_h
    g = triton_scan_backward(u, delta, A, B, C, D, z, delta_bias, states, grad_y, grad_h, ctx.delta_softplus,
                             ctx.chunk_size)
    optional = (None if D is None else g[5], None if z is None else g[6], None if delta_bias is None else g[7],
                g[8].to(ctx.h0_dtype) if ctx.has_h0 else None)
    return (*g[:5], *optional, None, None, None)


triton_scan_forward.register_autograd(_backward, setup_context=_setup_context)


def triton_selective_scan(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None, z: Tensor | None = None,
    delta_bias: Tensor | None = None, delta_softplus: bool = False, initial_state: Tensor | None = None,
    return_final_state: bool = False, chunk_size: int = CHUNK_SIZE,
) -> tuple[Tensor, Tensor | None]:
    """The scan on the Triton kernels (the ``"triton"`` backend's ``run``, with the chunk size exposed): ``(y, h_L or
    None)``, differentiable in every tensor. States for the backward are kept only when autograd records."""
    if chunk_size < 2 or chunk_size & (chunk_size - 1):
        raise ValueError(f"triton selective scan: chunk_size must be a power of two >= 2, got {chunk_size}")
    tensors = (u, delta, A, B, C, D, z, delta_bias, initial_state)
    save = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    y, h_last, _ = triton_scan_forward(u, delta, A, B, C, D, z, delta_bias, initial_state, bool(delta_softplus), save,
                                       int(chunk_size))
    return y, (h_last if return_final_state else None)


__all__ = [
    "BLOCK_E",
    "CHUNK_SIZE",
    "backend_devices",
    "interpreting",
    "triton_available",
    "triton_scan_backward",
    "triton_scan_forward",
    "triton_selective_scan",
]
