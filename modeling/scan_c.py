"""The C backend of :func:`.scan.selective_scan` (CPU, fp32): a plain C kernel compiled on first use, loaded with ctypes.

The source (:mod:`.scan_c_source`) holds a sequential-in-time, parallel-over-channels (OpenMP) forward and an adjoint
backward that recomputes blocks of ``CHECKPOINT_INTERVAL`` positions from states saved by the forward, so the memory
kept for training is O(B·E·N·L/64) instead of O(B·E·N·L). It needs no Python or torch headers: the first call compiles
it with the system C compiler (``$CC``, else cc, gcc or clang) into a per-user cache directory (``$BYTEVID_HF_CACHE``,
else ``$XDG_CACHE_HOME/bytevid_hf``, else ``~/.cache/bytevid_hf``), keyed by a hash of the source, the compiler, the
flags and the machine; the shared object is written to a temporary name and renamed into place, so concurrent
processes never see a half-written file. When no compiler is found or compilation fails, one warning is logged and
:func:`kernel_available` is False (``ssm_backend="auto"`` then uses the torch scan; ``ssm_backend="c"`` raises).

Both directions are ``torch.library`` custom ops (``bytevid::c_scan_fwd`` / ``_bwd``) with fake implementations, so
``torch.compile`` and ``torch.export`` trace the model through the kernel as one opaque op.

The kernel runs with :func:`torch.get_num_threads` threads unless :func:`set_num_threads` says otherwise; its results
do not depend on the number of threads (reductions over channels are done in a fixed order).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import torch
from torch import Tensor

from .scan_c_source import C_SOURCE

logger = logging.getLogger(__name__)



def read_source() -> bytes:
    """The kernel's C source (:data:`.scan_c_source.C_SOURCE`)."""
    return C_SOURCE.encode("utf-8")


# States are checkpointed every CHECKPOINT_INTERVAL positions; the backward recomputes one such block at a time.
CHECKPOINT_INTERVAL = 64
_ABI_VERSION = 1

# Tried in order until one compiles. The object is compiled with -ffast-math but linked without it: linking with
# -ffast-math makes gcc (<= 12) add crtfastmath.o, which turns on flush-to-zero for the whole Python process on load.
# Two parts of -ffast-math are switched back off: -fno-finite-math-only keeps inf/NaN semantics (NaN inputs propagate),
# and -fno-associative-math keeps the order of additions as written, which the exp() range reduction relies on
# (reassociated, it loses up to ~4e-6 relative accuracy); the kernel is explicitly vectorised, so this costs little.
_FAST = ["-O3", "-ffast-math", "-fno-finite-math-only", "-fno-associative-math", "-fPIC"]
_FLAG_SETS = (
    (_FAST + ["-march=native", "-fopenmp"], ["-fopenmp"]),
    (_FAST + ["-fopenmp"], ["-fopenmp"]),
    (_FAST + ["-march=native"], []),
    (_FAST, []),
)

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_info: dict = {}
_tried = False
_error: str | None = None
_num_threads: int | None = None


# ----------------------------------------------------------------------------------------------------------------------
# building and loading
# ----------------------------------------------------------------------------------------------------------------------


def _cache_dir() -> Path:
    explicit = os.environ.get("BYTEVID_HF_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bytevid_hf"


def _compilers() -> list[list[str]]:
    """Candidate C compilers as argv prefixes: ``$CC`` (may hold flags), then cc, gcc, clang (deduplicated)."""
    found, seen = [], set()
    for cand in (os.environ.get("CC", ""), "cc", "gcc", "clang"):
        argv = shlex.split(cand) if cand else []
        path = shutil.which(argv[0]) if argv else None
        if path and (os.path.realpath(path), tuple(argv[1:])) not in seen:
            seen.add((os.path.realpath(path), tuple(argv[1:])))
            found.append([path, *argv[1:]])
    return found


def _machine_id() -> str:
    """What a -march=native binary depends on: architecture and the CPU's model/feature flags."""
    parts = [platform.system(), platform.machine()]
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key = line.split(":", 1)[0].strip()
                if key in ("model name", "flags", "Features", "CPU part", "isa"):
                    parts.append(line.strip())
                if not line.strip() and len(parts) > 2:  # first processor is enough
                    break
    except OSError:
        parts.append(platform.processor())
    return "\n".join(parts)


def _compiler_version(cc: list[str]) -> str:
    try:
        out = subprocess.run([*cc, "--version"], capture_output=True, text=True, timeout=30, check=False)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _run(cmd: list[str]) -> str | None:
    """Run a compiler command; None on success, else the error text."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{' '.join(cmd)}: {exc}"
    if proc.returncode != 0:
        return f"{' '.join(cmd)} exited with {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-2000:]}"
    return None


def _declare(lib: ctypes.CDLL) -> None:
    p, i64, c_int = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    lib.bv_scan_fwd.argtypes = [p] * 9 + [i64] * 5 + [c_int]
    lib.bv_scan_fwd.restype = c_int
    lib.bv_scan_bwd.argtypes = [p] * 14 + [i64] * 5 + [c_int]
    lib.bv_scan_bwd.restype = c_int
    for name in ("bv_abi_version", "bv_has_openmp", "bv_max_threads", "bv_last_num_threads"):
        getattr(lib, name).argtypes = []
        getattr(lib, name).restype = c_int


def _self_check(lib: ctypes.CDLL) -> None:
    """Tiny scans (the scalar and the vector code) against a plain Python loop, including decays that underflow to 0."""
    import math

    def f32(xs):
        return (ctypes.c_float * len(xs))(*xs)

    E, L, K = 2, 5, 2
    u = [0.5, -1.0, 2.0, 0.25, 1.5, 1.0, 0.0, -0.5, 3.0, -2.0]
    dl = [0.1, 2.0, 500.0, 0.01, 1.0, 0.7, 0.2, 0.0, 1e4, 0.3]
    for N in (3, 8):
        A = [-0.1 * (1 + (k % 11)) for k in range(E * N)]
        Bm = [0.3 * ((k % 7) - 3) for k in range(L * N)]
        Cm = [0.2 * ((k % 5) - 2) for k in range(L * N)]
        h0 = [0.1 * (k % 9) - 0.2 for k in range(E * N)]
        expected = []
        for e in range(E):
            h = h0[e * N : (e + 1) * N]
            for t in range(L):
                d = dl[e * L + t]
                h = [math.exp(d * A[e * N + n]) * h[n] + d * u[e * L + t] * Bm[t * N + n] for n in range(N)]
                expected.append(sum(Cm[t * N + n] * h[n] for n in range(N)))
        y, hT, ck = (ctypes.c_float * (E * L))(), (ctypes.c_float * (E * N))(), (ctypes.c_float * (E * 3 * N))()
        buffers = (f32(u), f32(dl), f32(A), f32(Bm), f32(Cm), f32(h0), y, hT, ck)
        rc = lib.bv_scan_fwd(*(ctypes.cast(b, ctypes.c_void_p) for b in buffers), 1, E, L, N, K, 1)
        if rc != 0 or any(not math.isfinite(v) or abs(v - w) > 1e-4 * (1 + abs(w)) for v, w in zip(y, expected)):
            raise RuntimeError(f"self-check failed (N={N}, rc={rc}): got {list(y)}, expected {expected}")


def _compile(cc: list[str], cflags: list[str], ldflags: list[str], target: Path) -> str | None:
    """Compile the C source into ``target`` through a temporary file and an atomic rename; None on success, else the error."""
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        src, obj, lib_tmp = Path(tmp) / "selective_scan.c", Path(tmp) / "selective_scan.o", Path(tmp) / "selective_scan.so"
        src.write_bytes(read_source())
        err = _run([*cc, *cflags, "-c", str(src), "-o", str(obj)])
        err = err or _run([*cc, "-shared", *ldflags, str(obj), "-o", str(lib_tmp)])
        if err is None:
            os.replace(lib_tmp, target)  # atomic: concurrent builders each rename a complete file
        return err


def _load(target: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(target))
    _declare(lib)
    if lib.bv_abi_version() != _ABI_VERSION:
        raise RuntimeError(f"ABI version {lib.bv_abi_version()} != {_ABI_VERSION}")
    _self_check(lib)
    return lib


def _build_and_load() -> tuple[ctypes.CDLL, dict]:
    source = read_source()
    compilers = _compilers()
    if not compilers:
        raise RuntimeError("no C compiler found ($CC, cc, gcc, clang)")
    cache = _cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        cache = Path(tempfile.gettempdir()) / f"bytevid_hf-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
        cache.mkdir(parents=True, exist_ok=True)
    machine = _machine_id()
    errors = []
    for cc in compilers:
        version = _compiler_version(cc)
        for cflags, ldflags in _FLAG_SETS:
            fields = [source, " ".join(cc), version, " ".join(cflags), " ".join(ldflags), machine, str(_ABI_VERSION)]
            key = hashlib.sha256(b"\0".join(f if isinstance(f, bytes) else f.encode() for f in fields)).hexdigest()
            target = cache / f"selective_scan-{key[:20]}.so"
            cached = target.exists()
            if not cached:
                err = _compile(cc, cflags, ldflags, target)
                if err:
                    errors.append(err)
                    continue
            try:
                lib = _load(target)
            except (OSError, AttributeError, RuntimeError) as exc:
                if not cached:
                    errors.append(f"{target}: {exc}")
                    continue
                # a stale or damaged cache entry: rebuild it once
                err, lib = _compile(cc, cflags, ldflags, target), None
                try:
                    lib = _load(target) if err is None else None
                except (OSError, AttributeError, RuntimeError) as exc2:
                    err = f"{target}: {exc2}"
                if lib is None:
                    errors.append(err or f"{target}: {exc}")
                    continue
            info = {"path": str(target), "compiler": " ".join(cc), "cflags": cflags, "openmp": bool(lib.bv_has_openmp())}
            return lib, info
    raise RuntimeError("could not build the C selective scan:\n" + "\n".join(errors[-4:]))


def load_kernel() -> ctypes.CDLL | None:
    """The compiled kernel library, building it on the first call; ``None`` (after one logged warning) when it cannot
    be built."""
    global _lib, _info, _tried, _error
    if _tried:
        return _lib
    with _lock:
        if not _tried:
            try:
                _lib, _info = _build_and_load()
                logger.debug("selective scan C kernel loaded: %s", _info)
            except Exception as exc:  # noqa: BLE001 -- never crash: the torch scan is always there
                _lib, _error = None, f"{type(exc).__name__}: {exc}"
                logger.warning("bytevid_hf: C selective-scan kernel unavailable, using the torch scan (%s)", _error)
            _tried = True
    return _lib


def kernel_available() -> bool:
    """True when the C kernel is (or can be) built and loaded."""
    return load_kernel() is not None


def kernel_info() -> dict:
    """Where the loaded kernel lives and how it was built (empty when not loaded); ``error`` when the build failed."""
    load_kernel()
    return dict(_info) if _lib is not None else {"error": _error}


def reset_kernel() -> None:
    """Forget the loaded kernel (and a failed build), so the next call tries again. For tests."""
    global _lib, _info, _tried, _error
    with _lock:
        _lib, _info, _tried, _error = None, {}, False, None


def set_num_threads(num_threads: int | None) -> None:
    """Threads the kernel uses; ``None`` follows :func:`torch.get_num_threads`. Results do not depend on it."""
    global _num_threads
    if num_threads is not None and int(num_threads) < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    _num_threads = None if num_threads is None else int(num_threads)


def _threads() -> int:
    return _num_threads if _num_threads is not None else torch.get_num_threads()



def kernel_error() -> str | None:
    """Why the kernel could not be built (``None`` when it loaded or was not tried yet)."""
    return _error


# ----------------------------------------------------------------------------------------------------------------------
# calling it: custom ops
# ----------------------------------------------------------------------------------------------------------------------


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _num_checkpoints(length) -> int:
    return (length + CHECKPOINT_INTERVAL - 1) // CHECKPOINT_INTERVAL


def _require_kernel() -> ctypes.CDLL:
    lib = load_kernel()
    if lib is None:
        raise RuntimeError(f"the C selective-scan kernel could not be built: {_error}")
    return lib


@torch.library.custom_op(f"bytevid::c_scan_fwd_v{_ABI_VERSION}", mutates_args=(), device_types="cpu")
def c_scan_forward(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, h0: Tensor, save_checkpoints: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """(y (B, E, L), h_L (B, E, N), checkpoints (B, E, ceil(L/64), N) or (0,)) from fp32 CPU u, delta (B, E, L),
    A (E, N), B, C (B, N, L) and h0 (B, E, N). The checkpoints (the state before every 64 positions) are kept for
    the backward."""
    batch, channels, length = u.shape
    state = A.shape[1]
    u, delta, A, h0 = (t.contiguous() for t in (u, delta, A, h0))
    Bt, Ct = B.transpose(1, 2).contiguous(), C.transpose(1, 2).contiguous()  # (B, L, N): the kernel's layout
    y = torch.empty_like(u)
    h_last = u.new_empty(batch, channels, state)
    ckpt = u.new_empty(batch, channels, _num_checkpoints(length), state) if save_checkpoints else u.new_empty(0)
    rc = _require_kernel().bv_scan_fwd(
        _ptr(u), _ptr(delta), _ptr(A), _ptr(Bt), _ptr(Ct), _ptr(h0), _ptr(y), _ptr(h_last),
        _ptr(ckpt) if save_checkpoints else None, batch, channels, length, state, CHECKPOINT_INTERVAL, _threads(),
    )
    if rc != 0:
        raise RuntimeError(f"C selective scan forward failed with code {rc}")
    return y, h_last, ckpt


@c_scan_forward.register_fake
def _(u, delta, A, B, C, h0, save_checkpoints):
    # contiguous, like the real outputs (whatever the inputs' strides)
    batch, channels, length = u.shape
    ckpt_shape = (batch, channels, _num_checkpoints(length), A.shape[1]) if save_checkpoints else (0,)
    return u.new_empty(u.shape), u.new_empty(h0.shape), u.new_empty(ckpt_shape)


@torch.library.custom_op(f"bytevid::c_scan_bwd_v{_ABI_VERSION}", mutates_args=(), device_types="cpu")
def c_scan_backward(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, ckpt: Tensor, grad_y: Tensor, grad_h: Tensor,
    need_B: bool, need_C: bool, need_h0: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Gradients (u, delta, A, B, C, h0) of :func:`c_scan_forward`; the ones not needed come back empty."""
    batch, channels, length = u.shape
    state = A.shape[1]
    # contiguous copies held in locals: the kernel reads them through raw pointers
    u, delta, A, ckpt = u.contiguous(), delta.contiguous(), A.contiguous(), ckpt.contiguous()
    Bt, Ct = B.transpose(1, 2).contiguous(), C.transpose(1, 2).contiguous()
    gy, gh = grad_y.float().contiguous(), grad_h.float().contiguous()
    grad_u, grad_delta, grad_A = u.new_empty(u.shape), u.new_empty(delta.shape), u.new_empty(A.shape)
    grad_B = u.new_empty(batch, length, state) if need_B else u.new_empty(0)
    grad_C = u.new_empty(batch, length, state) if need_C else u.new_empty(0)
    grad_h0 = u.new_empty(batch, channels, state) if need_h0 else u.new_empty(0)
    rc = _require_kernel().bv_scan_bwd(
        _ptr(u), _ptr(delta), _ptr(A), _ptr(Bt), _ptr(Ct), _ptr(ckpt),
        _ptr(gy), _ptr(gh), _ptr(grad_u), _ptr(grad_delta), _ptr(grad_A),
        _ptr(grad_B) if need_B else None, _ptr(grad_C) if need_C else None, _ptr(grad_h0) if need_h0 else None,
        batch, channels, length, state, CHECKPOINT_INTERVAL, _threads(),
    )
    if rc == -2:
        raise MemoryError("C selective scan backward: out of memory")
    if rc != 0:
        raise RuntimeError(f"C selective scan backward failed with code {rc}")
    grad_B = grad_B.transpose(1, 2).contiguous() if need_B else grad_B  # back to (B, N, L)
    grad_C = grad_C.transpose(1, 2).contiguous() if need_C else grad_C
    return grad_u, grad_delta, grad_A, grad_B, grad_C, grad_h0


@c_scan_backward.register_fake
def _(u, delta, A, B, C, ckpt, grad_y, grad_h, need_B, need_C, need_h0):
    empty = u.new_empty(0)  # every output contiguous, like the real ones
    return (
        u.new_empty(u.shape), u.new_empty(delta.shape), u.new_empty(A.shape),
        u.new_empty(B.shape) if need_B else empty, u.new_empty(C.shape) if need_C else empty,
        u.new_empty(u.shape[0], u.shape[1], A.shape[1]) if need_h0 else empty,
    )


def _setup_context(ctx, inputs, output):
    u, delta, A, B, C, _, _ = inputs
    ctx.save_for_backward(u, delta, A, B, C, output[2])


def _backward(ctx, grad_y, grad_h, _grad_ckpt):
    u, delta, A, B, C, ckpt = ctx.saved_tensors
    need = ctx.needs_input_grad
    grad_y = torch.zeros_like(u) if grad_y is None else grad_y
    grad_h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1]) if grad_h is None else grad_h
    g = c_scan_backward(u, delta, A, B, C, ckpt, grad_y, grad_h, need[3], need[4], need[5])
    return (
        g[0] if need[0] else None, g[1] if need[1] else None, g[2] if need[2] else None,
        g[3] if need[3] else None, g[4] if need[4] else None, g[5] if need[5] else None, None,
    )


c_scan_forward.register_autograd(_backward, setup_context=_setup_context)


def c_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, h0: Tensor) -> tuple[Tensor, Tensor]:
    """The scan on the C kernel: fp32 CPU tensors, ``(y, h_L)``; differentiable in every input. Checkpoints for the
    backward are kept only when autograd records."""
    save = torch.is_grad_enabled() and any(t.requires_grad for t in (u, delta, A, B, C, h0))
    y, h_last, _ = c_scan_forward(u, delta, A, B, C, h0, save)
    return y, h_last


__all__ = [
    "CHECKPOINT_INTERVAL",
    "c_scan",
    "c_scan_backward",
    "c_scan_forward",
    "kernel_available",
    "kernel_error",
    "kernel_info",
    "load_kernel",
    "reset_kernel",
    "set_num_threads",
]
