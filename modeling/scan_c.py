"""The C backend of :func:`.scan.selective_scan` and the Mamba layer's causal convolution (CPU, fp32): plain C kernels
compiled on first use, loaded with ctypes.

The source (:mod:`.scan_c_source`) holds the fused selective scan (softplus of Δ + bias, the recurrence, the D skip
and the silu(z) gate in one pass; time-major, vectorised over channels, OpenMP over channel tiles), its adjoint
backward, which recomputes blocks of ``CHECKPOINT_INTERVAL`` positions from states saved by the forward (so the
memory kept for training is O(B·E·N·L/64) instead of O(B·E·N·L)), and the causal depthwise convolution + bias + SiLU
with its backward. The kernels read the layer's tensors where they are: a (batch, channels, length) argument may be a
transposed view of a (batch, length, channels) tensor, as a Mamba layer's in_proj, x_proj and dt_proj outputs are,
and the outputs are stored time-major, so out_proj takes y without a copy. The source needs no Python or torch
headers: the first call compiles it with the system C compiler (``$CC``, else cc, gcc or clang) into a per-user cache directory (``$BYTEVID_HF_CACHE``,
else ``$XDG_CACHE_HOME/bytevid_hf``, else ``~/.cache/bytevid_hf``), keyed by a hash of the source, the compiler, the
flags and the machine; the shared object is written to a temporary name and renamed into place, so concurrent
processes never see a half-written file. When no compiler is found or compilation fails, one warning is logged and
:func:`kernel_available` is False (``ssm_backend="auto"`` then uses the torch scan; ``ssm_backend="c"`` raises).

Each kernel is a ``torch.library`` custom op (``bytevid::c_scan_fwd`` / ``_bwd``, ``bytevid::c_conv_fwd`` / ``_bwd``)
with fake implementations whose strides equal the real ones, so ``torch.compile`` and ``torch.export`` trace the model
through the kernels as opaque ops.

Instruction set: the build tries ``-march=native`` first (AVX-512: 16-lane vectors; AVX2 + FMA: 8 lanes), then
portable C (8-lane vector extensions); ``BYTEVID_HF_SCAN_ISA=portable`` (or ``avx2``) asks for that build instead. A
library refuses to load on a CPU without the instructions it was built for (``bv_cpu_supports``), and every build is
checked against a plain Python loop on load; :func:`kernel_info` reports the instruction set in use.

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
from torch.utils.flop_counter import register_flop_formula

from .scan_c_source import C_SOURCE

logger = logging.getLogger(__name__)


def read_source() -> bytes:
    """The kernel's C source (:data:`.scan_c_source.C_SOURCE`)."""
    return C_SOURCE.encode("utf-8")


# States are checkpointed every CHECKPOINT_INTERVAL positions; the backward recomputes one such block at a time.
CHECKPOINT_INTERVAL = 64
_ABI_VERSION = 2

# Tried in order until one compiles. The object is compiled with -ffast-math but linked without it: linking with
# -ffast-math makes gcc (<= 12) add crtfastmath.o, which turns on flush-to-zero for the whole Python process on load.
# Two parts of -ffast-math are switched back off: -fno-finite-math-only keeps inf/NaN semantics (NaN inputs propagate),
# and -fno-associative-math keeps the order of additions as written, which the exp() range reduction relies on
# (reassociated, it loses up to ~4e-6 relative accuracy); the kernel is explicitly vectorised, so this costs little.
_FAST = ["-O3", "-ffast-math", "-fno-finite-math-only", "-fno-associative-math", "-fPIC"]
_ISA_FLAGS = {"native": ["-march=native"], "avx2": ["-mavx2", "-mfma"], "portable": []}
_ISA_NAMES = {2: "avx512", 1: "avx2", 0: "portable"}


def _flag_sets() -> list[tuple[list[str], list[str]]]:
    """(compile flags, link flags) to try in order: the instruction set asked for by ``$BYTEVID_HF_SCAN_ISA`` (default
    ``native``), then portable C; each with OpenMP, then without."""
    requested = os.environ.get("BYTEVID_HF_SCAN_ISA", "native").strip().lower() or "native"
    if requested not in _ISA_FLAGS:
        raise RuntimeError(f"BYTEVID_HF_SCAN_ISA={requested!r}: choose one of {sorted(_ISA_FLAGS)}")
    isas = [_ISA_FLAGS[requested]] + ([[]] if _ISA_FLAGS[requested] else [])
    return [(_FAST + isa + omp, omp) for omp in (["-fopenmp"], []) for isa in isas]


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
    lib.bv_scan_fwd.argtypes = [p] * 13 + [i64] * 5 + [c_int] * 2
    lib.bv_scan_bwd.argtypes = [p] * 21 + [i64] * 5 + [c_int] * 2
    lib.bv_conv_fwd.argtypes = [p, i64, i64, p, p, p, p, p] + [i64] * 4 + [c_int]
    lib.bv_conv_bwd.argtypes = [p, i64, i64, p, p, p, p, p, p, p, p, p] + [i64] * 4 + [c_int]
    for name in ("bv_scan_fwd", "bv_scan_bwd", "bv_conv_fwd", "bv_conv_bwd"):
        getattr(lib, name).restype = c_int
    for name in ("bv_abi_version", "bv_isa", "bv_vector_lanes", "bv_cpu_supports", "bv_has_openmp", "bv_max_threads",
                 "bv_last_num_threads"):
        getattr(lib, name).argtypes = []
        getattr(lib, name).restype = c_int


def _self_check(lib: ctypes.CDLL) -> None:
    """The fused scan (softplus, bias, D, gate, initial state; a full and a partial channel tile; the compile-time and
    the generic state size) and the convolution against plain Python loops, including decays that underflow to 0."""
    import math

    def f32(xs):
        return (ctypes.c_float * len(xs))(*xs)

    def ptrs(*buffers):
        return [None if b is None else ctypes.cast(b, ctypes.c_void_p) for b in buffers]

    def sigmoid(x):
        return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))

    def check(got, expected, what):
        if any(not math.isfinite(v) or abs(v - w) > 2e-4 * (1 + abs(w)) for v, w in zip(got, expected)):
            raise RuntimeError(f"self-check failed ({what}): got {list(got)}, expected {expected}")

    E, L = lib.bv_vector_lanes() + 3, 5  # one full tile of channels and a partial one
    u = [((7 * k) % 11 - 5) * 0.3 for k in range(L * E)]  # (L, E), time-major
    raw = [((5 * k) % 13 - 6) * 1.5 for k in range(L * E)]  # Δ before bias and softplus: from ~0 to ~9
    raw[3] = 800.0  # Δ·A far below ln(FLT_MIN): exact zeros
    z = [((3 * k) % 7 - 3) * 0.7 for k in range(L * E)]
    bias = [0.1 * (e % 4) - 0.1 for e in range(E)]
    D = [0.5 - 0.05 * e for e in range(E)]
    for N in (16, 3):
        A = [-0.1 * (1 + (k % 11)) for k in range(E * N)]
        Bm = [0.3 * ((k % 7) - 3) for k in range(L * N)]
        Cm = [0.2 * ((k % 5) - 2) for k in range(L * N)]
        h0 = [0.1 * (k % 9) - 0.2 for k in range(E * N)]
        expected, final = [0.0] * (L * E), []
        for e in range(E):
            h = h0[e * N : (e + 1) * N]
            for t in range(L):
                x = raw[t * E + e] + bias[e]
                d = max(x, 0.0) + math.log1p(math.exp(-abs(x)))
                h = [math.exp(d * A[e * N + n]) * h[n] + d * u[t * E + e] * Bm[t * N + n] for n in range(N)]
                s = sum(Cm[t * N + n] * h[n] for n in range(N)) + D[e] * u[t * E + e]
                expected[t * E + e] = s * z[t * E + e] * sigmoid(z[t * E + e])
            final += h
        y, hT = (ctypes.c_float * (L * E))(), (ctypes.c_float * (E * N))()
        strides = (ctypes.c_int64 * 10)(0, E, 0, E, 0, E, 0, N, 0, N)
        rc = lib.bv_scan_fwd(*ptrs(f32(u), f32(raw), f32(z), f32(Bm), f32(Cm), strides, f32(A), f32(D), f32(bias),
                                   f32(h0), y, hT, None), 1, E, L, N, 2, 1, 1)
        if rc != 0:
            raise RuntimeError(f"self-check failed: bv_scan_fwd returned {rc}")
        check(y, expected, f"scan output, N={N}")
        check(hT, final, f"scan final state, N={N}")
    K = 3
    w = [0.25 * ((k % 5) - 2) for k in range(E * K)]
    state = [0.4 * ((k % 3) - 1) for k in range(E * (K - 1))]
    expected = []
    for t in range(L):
        for e in range(E):
            window = state[e * (K - 1) : (e + 1) * (K - 1)] + [u[s * E + e] for s in range(L)]
            pre = bias[e] + sum(w[e * K + k] * window[t + k] for k in range(K))
            expected.append(pre * sigmoid(pre))
    out, new_state = (ctypes.c_float * (L * E))(), (ctypes.c_float * (E * (K - 1)))()
    rc = lib.bv_conv_fwd(*ptrs(f32(u))[:1], 0, E, *ptrs(f32(w), f32(bias), f32(state), out, new_state), 1, E, L, K, 1)
    if rc != 0:
        raise RuntimeError(f"self-check failed: bv_conv_fwd returned {rc}")
    check(out, expected, "causal convolution")
    check(new_state, [u[(L - K + 1 + j) * E + e] for e in range(E) for j in range(K - 1)], "conv state")


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
    if not lib.bv_cpu_supports():
        raise RuntimeError(f"built for {_ISA_NAMES.get(lib.bv_isa(), '?')}, which this CPU does not run")
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
        for cflags, ldflags in _flag_sets():
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
            info = {"path": str(target), "compiler": " ".join(cc), "cflags": cflags, "openmp": bool(lib.bv_has_openmp()),
                    "isa": _ISA_NAMES.get(lib.bv_isa(), "?"), "vector_lanes": lib.bv_vector_lanes()}
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


def _check(rc: int, what: str) -> None:
    if rc == -2:
        raise MemoryError(f"C {what}: out of memory")
    if rc != 0:
        raise RuntimeError(f"C {what} failed with code {rc}")


def _require_f32(what: str, *tensors: Tensor | None) -> None:
    for t in tensors:
        if t is not None and (t.dtype != torch.float32 or t.device.type != "cpu"):
            raise TypeError(f"C {what}: fp32 CPU tensors only, got {t.dtype} on {t.device}")


def _rows(t: Tensor) -> Tensor:
    """``t`` (batch, channels, length) with unit channel stride, as the kernels read it: a transposed view of a
    time-major tensor as it is, anything else as a time-major copy."""
    if t.shape[1] > 1 and t.stride(1) != 1:
        t = t.transpose(1, 2).contiguous().transpose(1, 2)
    return t


def _flat(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.contiguous()


def _time_major(batch: int, channels: int, length: int, like: Tensor) -> Tensor:
    """A new (batch, channels, length) tensor stored time-major: the kernels' output layout. A tensor of its own, not a
    view (autograd accumulates a gradient into it in place only when nothing else holds its storage)."""
    return torch.empty_strided((batch, channels, length), (length * channels, 1, channels), dtype=like.dtype,
                               device=like.device)


def _empty(like: Tensor) -> Tensor:
    return like.new_empty(0)


@torch.library.custom_op(f"bytevid::c_scan_fwd_v{_ABI_VERSION}", mutates_args=(), device_types="cpu")
def c_scan_forward(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, h0: Tensor | None, save_checkpoints: bool,
    D: Tensor | None = None, z: Tensor | None = None, delta_bias: Tensor | None = None, delta_softplus: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """The fused scan on fp32 CPU tensors with :func:`.scan.selective_scan`'s meaning and shapes: u, delta, z
    (B, E, L), A (E, N), B, C (B, N, L), D, delta_bias (E,), h0 (B, E, N) or None (zeros). Returns y (B, E, L) (stored
    time-major: ``y.transpose(1, 2)`` is contiguous), h_L (B, E, N) and, with ``save_checkpoints``, the state before
    every 64 positions (B, ceil(L/64), N, E), kept for the backward (else an empty tensor)."""
    batch, channels, length = u.shape
    state = A.shape[1]
    _require_f32("selective scan", u, delta, A, B, C, h0, D, z, delta_bias)
    u, delta, z, B, C = _rows(u), _rows(delta), None if z is None else _rows(z), _rows(B), _rows(C)
    A, D, delta_bias, h0 = _flat(A), _flat(D), _flat(delta_bias), _flat(h0)
    y = _time_major(batch, channels, length, u)
    h_last = u.new_empty(batch, channels, state)
    ckpt = u.new_empty(batch, _num_checkpoints(length), state, channels) if save_checkpoints else _empty(u)
    strides = (ctypes.c_int64 * 10)(u.stride(0), u.stride(2), delta.stride(0), delta.stride(2),
                                    *((z.stride(0), z.stride(2)) if z is not None else (0, 0)),
                                    B.stride(0), B.stride(2), C.stride(0), C.stride(2))
    rc = _require_kernel().bv_scan_fwd(
        _ptr(u), _ptr(delta), _ptr(z), _ptr(B), _ptr(C), strides, _ptr(A), _ptr(D), _ptr(delta_bias), _ptr(h0),
        _ptr(y), _ptr(h_last), _ptr(ckpt) if save_checkpoints else None, batch, channels, length, state,
        CHECKPOINT_INTERVAL, int(delta_softplus), _threads(),
    )
    _check(rc, "selective scan forward")
    return y, h_last, ckpt


@c_scan_forward.register_fake
def _(u, delta, A, B, C, h0, save_checkpoints, D=None, z=None, delta_bias=None, delta_softplus=False):
    batch, channels, length = u.shape
    state = A.shape[1]
    ckpt = u.new_empty(batch, _num_checkpoints(length), state, channels) if save_checkpoints else _empty(u)
    return _time_major(batch, channels, length, u), u.new_empty(batch, channels, state), ckpt


@torch.library.custom_op(f"bytevid::c_scan_bwd_v{_ABI_VERSION}", mutates_args=(), device_types="cpu")
def c_scan_backward(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
    delta_bias: Tensor | None, ckpt: Tensor, grad_y: Tensor, grad_h: Tensor | None, delta_softplus: bool,
    need_B: bool, need_C: bool, need_h0: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Gradients (u, delta, A, B, C, D, z, delta_bias, h0) of :func:`c_scan_forward` from its checkpoints; u, delta,
    z, B, C in the forward's layouts, stored time-major. Those of absent inputs, and B, C, h0 unless asked for, come
    back empty."""
    batch, channels, length = u.shape
    state = A.shape[1]
    u, delta, z, B, C, grad_y = (None if t is None else _rows(t) for t in (u, delta, z, B, C, grad_y))
    A, D, delta_bias, ckpt, grad_h = _flat(A), _flat(D), _flat(delta_bias), _flat(ckpt), _flat(grad_h)
    grad_u, grad_delta = _time_major(batch, channels, length, u), _time_major(batch, channels, length, u)
    grad_z = _time_major(batch, channels, length, u) if z is not None else _empty(u)
    grad_A = u.new_empty(A.shape)
    grad_B = _time_major(batch, state, length, u) if need_B else _empty(u)
    grad_C = _time_major(batch, state, length, u) if need_C else _empty(u)
    grad_D = u.new_empty(channels) if D is not None else _empty(u)
    grad_bias = u.new_empty(channels) if delta_bias is not None else _empty(u)
    grad_h0 = u.new_empty(batch, channels, state) if need_h0 else _empty(u)
    strides = (ctypes.c_int64 * 12)(u.stride(0), u.stride(2), delta.stride(0), delta.stride(2),
                                    *((z.stride(0), z.stride(2)) if z is not None else (0, 0)),
                                    B.stride(0), B.stride(2), C.stride(0), C.stride(2), grad_y.stride(0), grad_y.stride(2))
    rc = _require_kernel().bv_scan_bwd(
        _ptr(u), _ptr(delta), _ptr(z), _ptr(B), _ptr(C), _ptr(grad_y), strides, _ptr(A), _ptr(D), _ptr(delta_bias),
        _ptr(ckpt), _ptr(grad_h), _ptr(grad_u), _ptr(grad_delta), _ptr(grad_z) if z is not None else None,
        _ptr(grad_A), _ptr(grad_B) if need_B else None, _ptr(grad_C) if need_C else None,
        _ptr(grad_D) if D is not None else None, _ptr(grad_bias) if delta_bias is not None else None,
        _ptr(grad_h0) if need_h0 else None, batch, channels, length, state, CHECKPOINT_INTERVAL, int(delta_softplus),
        _threads(),
    )
    _check(rc, "selective scan backward")
    return grad_u, grad_delta, grad_A, grad_B, grad_C, grad_D, grad_z, grad_bias, grad_h0


@c_scan_backward.register_fake
def _(u, delta, A, B, C, D, z, delta_bias, ckpt, grad_y, grad_h, delta_softplus, need_B, need_C, need_h0):
    batch, channels, length = u.shape
    state = A.shape[1]
    rows = _time_major(batch, channels, length, u)
    return (
        rows, _time_major(batch, channels, length, u), u.new_empty(A.shape),
        _time_major(batch, state, length, u) if need_B else _empty(u),
        _time_major(batch, state, length, u) if need_C else _empty(u),
        u.new_empty(channels) if D is not None else _empty(u),
        _time_major(batch, channels, length, u) if z is not None else _empty(u),
        u.new_empty(channels) if delta_bias is not None else _empty(u),
        u.new_empty(batch, channels, state) if need_h0 else _empty(u),
    )


def _scan_setup_context(ctx, inputs, output):
    u, delta, A, B, C, _, _, D, z, delta_bias, delta_softplus = inputs
    ctx.delta_softplus = delta_softplus
    ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, output[2])
    ctx.mark_non_differentiable(output[2])
    ctx.set_materialize_grads(False)  # no zero tensors for the outputs a loss does not use


def _scan_backward(ctx, grad_y, grad_h, _grad_ckpt):
    u, delta, A, B, C, D, z, delta_bias, ckpt = ctx.saved_tensors
    if ckpt.numel() == 0 and u.numel() > 0:
        raise RuntimeError("C selective scan: backward through a forward called with save_checkpoints=False")
    need = tuple(ctx.needs_input_grad) + (False,) * 11  # (positional inputs given, then defaults)
    grad_y = torch.zeros_like(u) if grad_y is None else grad_y
    g = c_scan_backward(u, delta, A, B, C, D, z, delta_bias, ckpt, grad_y, grad_h, ctx.delta_softplus,
                        need[3], need[4], need[5])
    keep = [need[i] for i in (0, 1, 2, 3, 4, 7, 8, 9, 5)]
    gu, gdelta, gA, gB, gC, gD, gz, gbias, gh0 = (t if k else None for t, k in zip(g, keep))
    return gu, gdelta, gA, gB, gC, gh0, None, gD, gz, gbias, None


c_scan_forward.register_autograd(_scan_backward, setup_context=_scan_setup_context)


def c_scan_run(u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state, return_final_state):
    """The ``"c"`` backend's ``run`` (:class:`.scan.ScanBackend`): the whole of :func:`.scan.selective_scan` —
    softplus(Δ + bias), the recurrence, D·u and the silu(z) gate — in one kernel pass, computed in fp32 and returned in
    u's dtype. Checkpoints for the backward are kept only when autograd records."""
    args = [None if t is None else t.float() for t in (u, delta, A, B, C, initial_state, D, z, delta_bias)]
    save = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in args)
    y, h_last, _ = c_scan_forward(*args[:6], save, *args[6:], delta_softplus)
    return y.to(u.dtype), (h_last if return_final_state else None)


# ----------------------------------------------------------------------------------------------------------------------
# the causal depthwise convolution + SiLU of a Mamba layer
# ----------------------------------------------------------------------------------------------------------------------


def _conv_args(x: Tensor, weight: Tensor, bias: Tensor | None, state: Tensor | None):
    return _rows(x), weight.contiguous(), _flat(bias), _flat(state)


@torch.library.custom_op(f"bytevid::c_conv_fwd_v{_ABI_VERSION}", mutates_args=(), device_types="cpu")
def c_conv_forward(
    x: Tensor, weight: Tensor, bias: Tensor | None, state: Tensor | None, return_state: bool
) -> tuple[Tensor, Tensor]:
    """silu(causal depthwise convolution + bias) of x (B, E, T) with weight (E, K), from ``state`` (B, E, K - 1), the
    K - 1 inputs before x (zeros when None). Like the scan, x is read time-major (a transposed view of a (B, T, ·)
    tensor with any row stride, e.g. half of in_proj's output, as it is) and the output (B, E, T) is stored time-major.
    With ``return_state`` also the state after x (its last K - 1 inputs, (B, E, K - 1)), else an empty tensor. fp32
    CPU tensors."""
    batch, channels, length = x.shape
    _require_f32("causal convolution", x, weight, bias, state)
    x, weight, bias, state = _conv_args(x, weight, bias, state)
    out = _time_major(batch, channels, length, x)
    new_state = x.new_empty(batch, channels, weight.shape[1] - 1) if return_state else _empty(x)
    rc = _require_kernel().bv_conv_fwd(_ptr(x), x.stride(0), x.stride(2), _ptr(weight), _ptr(bias), _ptr(state),
                                       _ptr(out), _ptr(new_state) if return_state else None, batch, channels, length,
                                       weight.shape[1], _threads())
    _check(rc, "causal convolution forward")
    return out, new_state


@c_conv_forward.register_fake
def _(x, weight, bias, state, return_state):
    batch, channels, length = x.shape
    return (_time_major(batch, channels, length, x),
            x.new_empty(batch, channels, weight.shape[1] - 1) if return_state else _empty(x))


@torch.library.custom_op(f"bytevid::c_conv_bwd_v{_ABI_VERSION}", mutates_args=(), device_types="cpu")
def c_conv_backward(
    x: Tensor, weight: Tensor, bias: Tensor | None, state: Tensor | None, grad_out: Tensor, grad_state: Tensor | None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Gradients (x, weight, bias, state) of :func:`c_conv_forward` from those of its outputs (``grad_state``: of the
    returned state, None when it has none); those of absent inputs come back empty."""
    batch, channels, length = x.shape
    x, weight, bias, state = _conv_args(x, weight, bias, state)
    grad_out, grad_state = grad_out.transpose(1, 2).contiguous(), _flat(grad_state)  # (B, T, E)
    grad_x, grad_w = _time_major(batch, channels, length, x), x.new_empty(weight.shape)
    grad_b = x.new_empty(channels) if bias is not None else _empty(x)
    grad_s = x.new_empty(state.shape) if state is not None else _empty(x)
    rc = _require_kernel().bv_conv_bwd(
        _ptr(x), x.stride(0), x.stride(2), _ptr(weight), _ptr(bias), _ptr(state), _ptr(grad_out), _ptr(grad_state),
        _ptr(grad_x), _ptr(grad_w), _ptr(grad_b) if bias is not None else None,
        _ptr(grad_s) if state is not None else None, batch, channels, length, weight.shape[1], _threads(),
    )
    _check(rc, "causal convolution backward")
    return grad_x, grad_w, grad_b, grad_s


@c_conv_backward.register_fake
def _(x, weight, bias, state, grad_out, grad_state):
    batch, channels, length = x.shape
    return (_time_major(batch, channels, length, x), x.new_empty(weight.shape),
            x.new_empty(bias.shape) if bias is not None else _empty(x),
            x.new_empty(state.shape) if state is not None else _empty(x))


def _conv_setup_context(ctx, inputs, output):
    ctx.save_for_backward(*inputs[:4])
    ctx.set_materialize_grads(False)


def _conv_backward_rule(ctx, grad_out, grad_state):
    x, weight, bias, state = ctx.saved_tensors
    need = ctx.needs_input_grad
    if grad_out is None:
        grad_out = torch.zeros_like(x)
    g = c_conv_backward(x, weight, bias, state, grad_out, grad_state)
    return (*(t if n else None for t, n in zip(g, need)), None)


c_conv_forward.register_autograd(_conv_backward_rule, setup_context=_conv_setup_context)


def _conv_flops(x_shape, weight_shape) -> int:
    """What FlopCounterMode counts for the depthwise F.conv1d the kernel replaces: 2·B·T·E·K (multiply-adds)."""
    batch, channels, length = x_shape
    return 2 * batch * length * channels * weight_shape[1]


@register_flop_formula(getattr(torch.ops.bytevid, f"c_conv_fwd_v{_ABI_VERSION}"))
def _(x_shape, weight_shape, *args, out_shape=None, **kwargs) -> int:
    return _conv_flops(x_shape, weight_shape)


@register_flop_formula(getattr(torch.ops.bytevid, f"c_conv_bwd_v{_ABI_VERSION}"))
def _(x_shape, weight_shape, *args, out_shape=None, **kwargs) -> int:
    return 2 * _conv_flops(x_shape, weight_shape)  # the input's and the weight's gradients, as for conv1d


__all__ = [
    "CHECKPOINT_INTERVAL",
    "c_conv_backward",
    "c_conv_forward",
    "c_scan_backward",
    "c_scan_forward",
    "c_scan_run",
    "kernel_available",
    "kernel_error",
    "kernel_info",
    "load_kernel",
    "reset_kernel",
    "set_num_threads",
]
