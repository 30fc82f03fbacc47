"""The selective scan (Mamba's S6 recurrence): one interface, several backends, every one with states.

For every channel e and state index n (Gu & Dao 2023, Alg. 2):

    Δ_t[e]    = softplus(delta_t[e] + delta_bias[e])      (or delta + delta_bias without ``delta_softplus``)
    h_t[e, n] = exp(Δ_t[e] · A[e, n]) · h_{t-1}[e, n] + Δ_t[e] · B_t[n] · u_t[e]
    y_t[e]    = (Σ_n C_t[n] · h_t[e, n] + D[e] · u_t[e]) · silu(z_t[e])

:func:`selective_scan` is the only entry point; it takes an optional initial state h_0 and can return the final
state h_L, and gradients flow into both. The backends are registered in one table, :data:`SCAN_BACKENDS`, and one
switch chooses among them (``config.ssm_backend``, or ``backend=`` here):

* ``"c"`` — the C CPU kernel (:mod:`.scan_c`), a ``torch.library`` custom op; fp32 CPU.
* ``"torch"`` — the chunked torch scan (:mod:`.scan_torch`), also a custom op; any device.
* ``"triton"`` — fused Triton kernels (:mod:`.scan_triton`), a custom op with initial and final states (and their
  gradients) of its own; CUDA (and CPU tensors under ``TRITON_INTERPRET=1``, for tests).
* ``"mamba_ssm"`` — mamba-ssm's fused CUDA kernel (:mod:`.scan_mamba_ssm`), which starts from a zero state only.
* ``"auto"`` — the first available of :data:`AUTO_ORDER`: ``c`` then ``torch`` on CPU; ``mamba_ssm``, ``triton``, then
  ``torch`` on CUDA (so every stateful path on CUDA runs a fused kernel unless the torch scan is asked for).

A backend that cannot start from a given state (or cannot return a final state that gradients flow through) still
supports both here: the scan runs from zero and the initial state enters through the paper's state correction
(:mod:`.state_correction`, Eq. 4): y_t += (C_t · exp(A·S_t) · h_0) ⊙ silu(z_t) and h_L = exp(A·S_L) · h_0 + h⁰_L. So
streaming, sub-sequence state carry, sequence parallelism and blockwise layers run on whichever backend is fastest.

:func:`selective_scan_reference` is the naive loop, one position at a time: the independent reference of the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .scan_c import c_scan_run, kernel_available, kernel_error
from .scan_mamba_ssm import mamba_ssm_available, mamba_ssm_scan
from .scan_torch import torch_scan
from .scan_triton import backend_devices, triton_available, triton_selective_scan
from .state_correction import final_state_from, initial_state_output, zero_start_final_state


@dataclass(frozen=True)
class ScanBackend:
    """One implementation of the selective scan.

    ``run(u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state, return_final_state)`` has the meaning of
    :func:`selective_scan` (shapes already checked) and returns ``(y, final_state or None)``. ``initial_state`` is
    passed only when ``supports_initial_state``; ``return_final_state`` only when ``supports_final_state`` (a final
    state gradients flow from). The rest is added by :func:`selective_scan` through the state correction.
    """

    name: str
    run: Callable
    devices: tuple[str, ...]
    available: Callable[[], bool]
    supports_initial_state: bool
    supports_final_state: bool
    description: str = ""


def _delta(delta: Tensor, delta_bias: Tensor | None, delta_softplus: bool) -> Tensor:
    """Δ in fp32 (B, E, L), contiguous, from the raw time steps. (The kernels want it contiguous anyway; and softplus's
    backward on a transposed input gets other strides than AOT autograd predicts, which breaks torch.compile.)"""
    delta = delta.float().contiguous()
    if delta_bias is not None:
        delta = delta + delta_bias.float()[:, None]
    return F.softplus(delta) if delta_softplus else delta


def _finish(y: Tensor, u: Tensor, D: Tensor | None, z: Tensor | None) -> Tensor:
    """(y + D·u) · silu(z) in fp32, returned in u's dtype."""
    if D is not None:
        y = y + u.float() * D.float()[:, None]
    if z is not None:
        y = y * F.silu(z.float())
    return y.to(u.dtype)


def _run_fp32_kernel(kernel: Callable) -> Callable:
    """A backend ``run`` from an fp32 core ``kernel(u, Δ, A, B, C, h0) -> (y, h_L)`` that takes post-softplus Δ."""

    def run(u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state, return_final_state):
        dt = _delta(delta, delta_bias, delta_softplus)
        h0 = u.new_zeros(u.shape[0], u.shape[1], A.shape[1], dtype=torch.float32) if initial_state is None else initial_state.float()
        y, h_last = kernel(u.float(), dt, A.float(), B.float(), C.float(), h0)
        return _finish(y, u, D, z), (h_last if return_final_state else None)

    return run


#: Positions the torch scan solves at once, per device type: 64 keeps a CPU's temporaries in cache; GPUs want fewer,
#: larger launches. Devices not listed use the CUDA entry.
TORCH_SCAN_CHUNK_SIZE = {"cpu": 64, "cuda": 256}


def torch_scan_chunk_size(device_type: str) -> int:
    """The torch scan's chunk on ``device_type`` (from :data:`TORCH_SCAN_CHUNK_SIZE`)."""
    return TORCH_SCAN_CHUNK_SIZE.get(device_type, TORCH_SCAN_CHUNK_SIZE["cuda"])


def _torch_kernel(u, delta, A, B, C, h0):
    return torch_scan(u, delta, A, B, C, h0, chunk_size=torch_scan_chunk_size(u.device.type))


#: Every registered backend, by name. :func:`register_scan_backend` adds one (e.g. a test's stand-in kernel).
SCAN_BACKENDS: dict[str, ScanBackend] = {}


def register_scan_backend(backend: ScanBackend) -> None:
    """Add ``backend`` to :data:`SCAN_BACKENDS` (replacing one of the same name)."""
    SCAN_BACKENDS[backend.name] = backend


register_scan_backend(ScanBackend(
    name="c", run=c_scan_run, devices=("cpu",), available=kernel_available,
    supports_initial_state=True, supports_final_state=True,
    description="C CPU kernel (softplus, D and gate fused; OpenMP, vectorised exp), compiled on first use",
))
register_scan_backend(ScanBackend(
    name="torch", run=_run_fp32_kernel(_torch_kernel), devices=("cpu", "cuda", "mps", "xpu"),
    available=lambda: True, supports_initial_state=True, supports_final_state=True,
    description="chunked torch scan, any device",
))
register_scan_backend(ScanBackend(
    name="mamba_ssm", run=mamba_ssm_scan, devices=("cuda",), available=mamba_ssm_available,
    supports_initial_state=False, supports_final_state=False,
    description="mamba-ssm's fused CUDA kernel (pip install 'bytevid-hf[cuda]'); states via the state correction",
))

register_scan_backend(ScanBackend(
    name="triton", run=triton_selective_scan, devices=backend_devices(), available=triton_available,
    supports_initial_state=True, supports_final_state=True,
    description="Triton kernels, forward and backward, fused gate and states (CPU tensors under TRITON_INTERPRET=1)",
))

#: What ``"auto"`` tries, in order, per device type. On CUDA mamba-ssm stays first because it is the only kernel with
#: measured GPU numbers; a GPU benchmark of the triton backend against it decides the order.
AUTO_ORDER: dict[str, tuple[str, ...]] = {"cpu": ("c", "torch"), "cuda": ("mamba_ssm", "triton", "torch")}


@torch.compiler.assume_constant_result  # compiled graphs resolve it once, at trace time (it may build the C kernel)
def resolve_scan_backend(requested: str | None, device_type: str) -> str:
    """The backend that runs for ``requested`` (a name, ``"auto"`` or ``None`` = auto) on ``device_type``.

    Raises ``ValueError`` for an unknown name and ``RuntimeError`` for one that is not available on this device."""
    requested = "auto" if requested is None else requested
    if requested == "auto":
        for name in AUTO_ORDER.get(device_type, ("torch",)):
            backend = SCAN_BACKENDS.get(name)
            if backend is not None and device_type in backend.devices and backend.available():
                return name
        return "torch"
    backend = SCAN_BACKENDS.get(requested)
    if backend is None:
        raise ValueError(f"selective scan: unknown backend {requested!r}; choose one of {['auto', *SCAN_BACKENDS]}")
    if device_type not in backend.devices:
        raise RuntimeError(
            f"selective scan: backend {requested!r} runs on {list(backend.devices)} tensors, got {device_type} tensors"
            " (ssm_backend='auto' picks one that does)"
        )
    if not backend.available():
        reasons = {"c": f": {kernel_error()}", "triton": " (triton is not importable; it comes with torch's CUDA builds)",
                   "mamba_ssm": " (pip install 'bytevid-hf[cuda]')"}
        reason = reasons.get(requested, "")
        raise RuntimeError(f"selective scan: backend {requested!r} is not available{reason}")
    return requested


def _check_shapes(u, delta, A, B, C, D, z, delta_bias, initial_state):
    if u.dim() != 3:
        raise ValueError(f"selective scan: u must be (batch, channels, length), got shape {tuple(u.shape)}")
    batch, channels, length = u.shape
    if delta.shape != u.shape:
        raise ValueError(f"selective scan: delta shape {tuple(delta.shape)} must equal u shape {tuple(u.shape)}")
    if A.dim() != 2 or A.shape[0] != channels:
        raise ValueError(f"selective scan: A must be (channels={channels}, state), got {tuple(A.shape)}")
    state = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        if tuple(t.shape) != (batch, state, length):
            raise ValueError(
                f"selective scan: {name} must be (batch={batch}, state={state}, length={length}), got {tuple(t.shape)}"
            )
    for name, t in (("D", D), ("delta_bias", delta_bias)):
        if t is not None and tuple(t.shape) != (channels,):
            raise ValueError(f"selective scan: {name} must be (channels={channels},), got {tuple(t.shape)}")
    if z is not None and z.shape != u.shape:
        raise ValueError(f"selective scan: z shape {tuple(z.shape)} must equal u shape {tuple(u.shape)}")
    if initial_state is not None and tuple(initial_state.shape) != (batch, channels, state):
        raise ValueError(
            f"selective scan: initial_state must be (batch={batch}, channels={channels}, state={state}), "
            f"got {tuple(initial_state.shape)}"
        )


def selective_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    initial_state: Tensor | None = None,
    return_final_state: bool = False,
    backend: str | None = None,
) -> tuple[Tensor, Tensor | None]:
    """The selective scan on the chosen backend, from any initial state.

    Args:
        u: (B, E, L) input (after the causal convolution and activation), any float dtype.
        delta: (B, E, L) time steps before ``delta_bias`` and softplus.
        A: (E, N) state matrix (negative: ``-exp(A_log)``).
        B, C: (B, N, L) input-dependent input and output projections.
        D: optional (E,) skip connection.
        z: optional (B, E, L) gate: the output is multiplied by silu(z).
        delta_bias: optional (E,) added to ``delta``.
        delta_softplus: apply softplus to ``delta + delta_bias``.
        initial_state: optional (B, E, N) state before position 0 (e.g. the end of the previous chunk of the video).
        return_final_state: also return the state after the last position.
        backend: ``"auto"`` (default), or a name in :data:`SCAN_BACKENDS`.

    Returns:
        ``(y, final_state)``: y (B, E, L) in u's dtype; final_state (B, E, N) in fp32, or ``None`` unless
        ``return_final_state``. States are accumulated in fp32 on every backend.
    """
    _check_shapes(u, delta, A, B, C, D, z, delta_bias, initial_state)
    impl = SCAN_BACKENDS[resolve_scan_backend(backend, u.device.type)]
    if u.shape[-1] == 0:
        final = None
        if return_final_state:
            final = initial_state.float() if initial_state is not None else u.new_zeros(
                u.shape[0], u.shape[1], A.shape[1], dtype=torch.float32)
        return u.new_zeros(u.shape), final
    native_start = initial_state if impl.supports_initial_state else None
    native_final = return_final_state and impl.supports_final_state
    y, final = impl.run(u, delta, A, B, C, D, z, delta_bias, delta_softplus, native_start, native_final)
    needs_start = initial_state is not None and native_start is None
    if needs_start or (return_final_state and not native_final):
        dt = _delta(delta, delta_bias, delta_softplus)  # (B, E, L) fp32
        if needs_start:  # Eq. 4: what starting from h_0 adds to the zero-start output, through the gate
            correction = initial_state_output(dt, A, C, initial_state)
            if z is not None:
                correction = correction * F.silu(z.float())
            y = (y.float() + correction).to(y.dtype)
        if return_final_state:  # Eq. 3 for one segment: exp(A·S_L)·h_0 + the zero-start final state
            local = final if native_final else zero_start_final_state(u, dt, A, B)
            final = final_state_from(initial_state if needs_start else None, dt, A, local)
    return y, (final if return_final_state else None)


def selective_scan_reference(
    u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, initial_state=None,
    return_final_state=False,
):
    """The naive sequential recurrence, one position at a time, with :func:`selective_scan`'s arguments and result.

    Computed in the dtype of ``u`` promoted to at least fp32 (pass float64 tensors for a float64 reference). Slow: for
    tests on small inputs."""
    _check_shapes(u, delta, A, B, C, D, z, delta_bias, initial_state)
    dtype = torch.promote_types(u.dtype, torch.float32)
    u, delta, A, B, C = (t.to(dtype) for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.to(dtype)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    batch, channels, length = u.shape
    h = u.new_zeros(batch, channels, A.shape[1]) if initial_state is None else initial_state.to(dtype)
    ys = []
    for t in range(length):
        decay = torch.exp(delta[:, :, t, None] * A)  # (B, E, N)
        h = decay * h + (delta[:, :, t] * u[:, :, t])[:, :, None] * B[:, None, :, t]
        ys.append((h * C[:, None, :, t]).sum(-1))  # (B, E)
    y = torch.stack(ys, dim=-1) if ys else u.new_zeros(batch, channels, 0)
    if D is not None:
        y = y + u * D.to(dtype)[:, None]
    if z is not None:
        y = y * F.silu(z.to(dtype))
    return y, (h if return_final_state else None)


__all__ = [
    "AUTO_ORDER",
    "TORCH_SCAN_CHUNK_SIZE",
    "torch_scan_chunk_size",
    "SCAN_BACKENDS",
    "ScanBackend",
    "register_scan_backend",
    "resolve_scan_backend",
    "selective_scan",
    "selective_scan_reference",
]
