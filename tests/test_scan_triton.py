"""The Triton selective-scan backend (:mod:`bytevid_hf.modeling.scan_triton`) against the naive float64 recurrence.

Every kernel test runs twice: on CPU tensors under Triton's interpreter (part of the default suite) and natively on a
GPU (``cuda`` marker, skipped without one). Triton decides whether it interprets when it is first imported, so
:func:`test_kernels_under_the_interpreter` runs this file's ``interpreted`` tests in one subprocess started with
``TRITON_INTERPRET=1`` (there they run; in this process they skip). The interpreter executes the kernels element by
element in Python, so the CPU sizes are small (B = 2, E ≤ 6, N ≤ 16, L ≤ 130) with short chunks (``chunk_size=16``),
so that a few dozen positions still cross several chunks.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_numerics import assert_close_to_float64, extreme_scan_inputs, naive_scan_float64  # sibling test modules
from test_scan import NAMES, assert_matches, make_inputs, run

from bytevid_hf.modeling import scan as scan_module
from bytevid_hf.modeling.scan import SCAN_BACKENDS, resolve_scan_backend, selective_scan, selective_scan_reference

pytest.importorskip("triton")
from bytevid_hf.modeling import scan_triton  # noqa: E402
from bytevid_hf.modeling.scan_triton import backend_devices, interpreting, triton_selective_scan  # noqa: E402

SHORT_CHUNK = 16


@pytest.fixture(params=[
    pytest.param("cpu", id="interpreted"),
    pytest.param("cuda", id="native", marks=[
        pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]),
])
def device(request):
    """The device the kernels run on: CPU under the interpreter (only in the subprocess that interprets), or CUDA."""
    if request.param == "cpu" and not interpreting():
        pytest.skip("interpreted tests run in test_kernels_under_the_interpreter's subprocess")
    if request.param == "cuda" and interpreting():
        pytest.skip("this process interprets triton")
    return request.param


def triton_scan(chunk_size=SHORT_CHUNK):
    return lambda *args, **kwargs: triton_selective_scan(*args, chunk_size=chunk_size, **kwargs)


def on(device, tensors):
    return [t.to(device) for t in tensors]


def to_cpu(result):
    y, h, grads = result
    return y.cpu(), h.cpu(), [g.cpu() for g in grads]


@pytest.mark.parametrize("length,state,with_state", [
    (1, 4, True), (37, 4, True), (37, 4, False), (64, 8, True), (40, 16, False),
])
def test_matches_the_naive_recurrence(device, length, state, with_state):
    """y, the final state and the gradients of u, Δ, A, B, C, D, z, Δ-bias and the initial state (which flow from
    the final state too) against a float64 loop: single position, partial last chunk, whole chunks, N = 4/8/16."""
    inputs = make_inputs(channels=6, length=length, state=state, seed=length + state)
    got = run(triton_scan(), on(device, inputs), with_state=with_state)
    assert_matches(to_cpu(got), run(selective_scan_reference, inputs, with_state=with_state, dtype=torch.float64))


def test_without_optional_inputs(device):
    """No D, z, Δ-bias or softplus, no initial state: the plain recurrence and its five gradients."""
    u, delta, A, B, C = (t.float().requires_grad_() for t in make_inputs(channels=5, length=50, seed=3)[:5])
    delta_pos = delta.detach().abs().requires_grad_()
    y, h = triton_selective_scan(*on(device, (u, delta_pos, A, B, C)), return_final_state=True, chunk_size=SHORT_CHUNK)
    leaves64 = [t.detach().double().requires_grad_() for t in (u, delta_pos, A, B, C)]
    y64, h64 = selective_scan_reference(*leaves64, return_final_state=True)
    torch.testing.assert_close(y.cpu().double(), y64, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(h.cpu().double(), h64, rtol=1e-4, atol=1e-5)
    grads = torch.autograd.grad(y.sum() + h.sum(), [u, delta_pos, A, B, C])  # through the copies to `device`
    grads64 = torch.autograd.grad(y64.sum() + h64.sum(), leaves64)
    for name, g, g64 in zip(NAMES, grads, grads64):
        torch.testing.assert_close(g.double(), g64, rtol=2e-4, atol=2e-4 * max(1.0, g64.abs().max().item()),
                                   msg=lambda m, n=name: f"grad {n}: {m}")


def test_extreme_time_steps_and_decays(device):
    """Δ from 1e-13 to 30 and A from -1e-6 to -1e4 (decays that underflow to exactly 0, states that never decay),
    inputs up to 1e4: finite, and equal to float64 in outputs, final state and every gradient."""
    u, delta, A, B, C, h0 = extreme_scan_inputs(length=70)
    leaves = [t.clone().requires_grad_(True) for t in (u, delta, A, B, C, h0)]
    y, h = triton_selective_scan(*on(device, leaves[:5]), initial_state=leaves[5].to(device), return_final_state=True,
                                 chunk_size=SHORT_CHUNK)
    leaves64 = [t.clone().double().requires_grad_(True) for t in (u, delta, A, B, C, h0)]
    y64, h64 = naive_scan_float64(*leaves64)
    assert_close_to_float64(y.detach().cpu(), y64.detach(), "triton scan output")
    assert_close_to_float64(h.detach().cpu(), h64.detach(), "triton scan final state")
    g = torch.Generator().manual_seed(5)
    gy, gh = torch.randn(y.shape, generator=g), torch.randn(h.shape, generator=g)
    grads = torch.autograd.grad((y * gy.to(device)).sum() + (h * gh.to(device)).sum(), leaves)
    grads64 = torch.autograd.grad((y64 * gy.double()).sum() + (h64 * gh.double()).sum(), leaves64)
    for name, grad, ref in zip(("u", "delta", "A", "B", "C", "h0"), grads, grads64):
        assert torch.isfinite(grad).all(), f"non-finite gradient of {name}"
        torch.testing.assert_close(grad.double(), ref, rtol=2e-3, atol=1e-4 * float(ref.abs().max()) + 1e-12,
                                   msg=lambda m, n=name: f"gradient of {n}: {m}")


def test_huge_decay_everywhere_forgets_at_once(device):
    """Δ·A = -3e5 at every step: y_t = C_t·(Δ_t·B_t·u_t) exactly, no NaN from the underflowed decays."""
    u, _, _, B, C, h0 = extreme_scan_inputs(length=20)
    delta = torch.full_like(u, 30.0)
    A = torch.full((u.shape[1], B.shape[1]), -1e4)
    y, _ = triton_selective_scan(*on(device, (u, delta, A, B, C)), initial_state=h0.to(device), chunk_size=SHORT_CHUNK)
    expected = ((30.0 * u)[:, :, None, :] * B[:, None] * C[:, None]).sum(2)
    torch.testing.assert_close(y.cpu(), expected, rtol=1e-5, atol=1e-3)


def test_low_precision_inputs_accumulate_states_in_fp32(device):
    """bf16/fp16 u, Δ, B, C, z, D, Δ-bias: y and every gradient in the input's dtype, the state in fp32, all close to
    the fp32 run."""
    inputs = on(device, make_inputs(channels=6, length=40, seed=4))
    y32, h32, grads32 = run(triton_scan(), inputs)
    for dtype, tol in ((torch.bfloat16, 3e-2), (torch.float16, 5e-3)):
        leaves = [t.to(dtype).requires_grad_() for t in inputs[:8]] + [inputs[8].float().requires_grad_()]
        y, h = triton_selective_scan(*leaves[:8], delta_softplus=True, initial_state=leaves[8], return_final_state=True,
                                     chunk_size=SHORT_CHUNK)
        assert y.dtype == dtype and h.dtype == torch.float32
        torch.testing.assert_close(y.float(), y32, rtol=tol, atol=tol * y32.abs().max().item())
        torch.testing.assert_close(h, h32, rtol=tol, atol=tol * h32.abs().max().item())
        grads = torch.autograd.grad(y.float().sum() + h.sum(), leaves)
        assert [g.dtype for g in grads] == [t.dtype for t in leaves]
        assert all(torch.isfinite(g).all() for g in grads)


def test_transposed_views_need_no_copies(device):
    """u, Δ, z as (B, L, E) transposed and B, C as (B, L, N) transposed — the mixer's layout — give the result of
    contiguous inputs; y comes back contiguous."""
    inputs = on(device, [t.float() for t in make_inputs(channels=6, length=40, seed=6)])
    u, delta, A, B, C, D, z, bias, h0 = inputs
    views = [t.transpose(1, 2).contiguous().transpose(1, 2) for t in (u, delta, B, C, z)]
    assert not views[0].is_contiguous()
    y, h = triton_selective_scan(*views[:2], A, *views[2:4], D, views[4], bias, True, h0, True, chunk_size=SHORT_CHUNK)
    y_ref, h_ref = triton_selective_scan(u, delta, A, B, C, D, z, bias, True, h0, True, chunk_size=SHORT_CHUNK)
    assert y.is_contiguous()
    torch.testing.assert_close(y, y_ref, rtol=0, atol=0)
    torch.testing.assert_close(h, h_ref, rtol=0, atol=0)


def test_backward_is_deterministic(device):
    """Two backward passes give bitwise the same gradients (no atomics: fixed-order sums)."""
    inputs = on(device, make_inputs(channels=6, length=33, seed=8))
    first, second = run(triton_scan(), inputs)[2], run(triton_scan(), inputs)[2]
    for name, a, b in zip(NAMES, first, second):
        assert torch.equal(a, b), name


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.skipif(interpreting(), reason="this process interprets triton")
@pytest.mark.parametrize("length", [64, 1000, 4097])
def test_native_default_chunk_at_model_sizes(length):
    """Natively: 64 channels, N = 16, the default chunk, up to 4,097 positions, against the float64 loop."""
    inputs = make_inputs(channels=64, length=length, state=16, seed=length)
    got = to_cpu(run(triton_selective_scan, on("cuda", inputs)))
    assert_matches(got, run(selective_scan_reference, inputs, dtype=torch.float64), grad_rtol=1e-3)


def test_dispatch_through_the_interface(device):
    """``selective_scan(..., backend="triton")`` at the default chunk (130 positions: three chunks) with states."""
    inputs = make_inputs(channels=4, length=130, seed=9)
    assert_matches(to_cpu(run(selective_scan, on(device, inputs), "triton")),
                   run(selective_scan_reference, inputs, dtype=torch.float64))


def test_fake_implementations_match_the_kernels(device):
    """torch.library's own checks of the custom ops (schema, fake tensors, autograd registration)."""
    u, delta, A, B, C, D, z, bias, h0 = on(device, [t.float() for t in make_inputs(channels=4, length=20, seed=10)])
    forward_args = (u.transpose(1, 2).contiguous().transpose(1, 2), delta, A, B, C, D, z, bias, h0, True, True, 16)
    torch.library.opcheck(scan_triton.triton_scan_forward, forward_args,
                          test_utils=("test_schema", "test_faketensor", "test_autograd_registration"))
    _, _, states = scan_triton.triton_scan_forward(*forward_args)
    backward_args = (u, delta, A, B, C, D, z, bias, states, torch.ones_like(u), torch.ones_like(h0), True, 16)
    torch.library.opcheck(scan_triton.triton_scan_backward, backward_args,
                          test_utils=("test_schema", "test_faketensor"))


def test_auto_order_on_cuda(monkeypatch):
    """On CUDA ``auto`` takes mamba-ssm, then triton, then the torch scan."""
    assert scan_module.AUTO_ORDER["cuda"] == ("mamba_ssm", "triton", "torch")

    def available(name, value):
        monkeypatch.setitem(SCAN_BACKENDS, name, dataclasses.replace(SCAN_BACKENDS[name], available=lambda: value))

    available("mamba_ssm", True), available("triton", True)
    assert resolve_scan_backend("auto", "cuda") == "mamba_ssm"
    available("mamba_ssm", False)
    assert resolve_scan_backend("auto", "cuda") == "triton"
    available("triton", False)
    assert resolve_scan_backend("auto", "cuda") == "torch"


def test_cpu_tensors_are_refused_when_compiling():
    """Without the interpreter the backend takes CUDA tensors only, and says so."""
    if interpreting():
        pytest.skip("this process interprets triton")
    assert backend_devices() == ("cuda",) and SCAN_BACKENDS["triton"].devices == ("cuda",)
    with pytest.raises(RuntimeError, match="runs on CUDA tensors"):
        triton_selective_scan(*[t.float() for t in make_inputs(length=4)[:5]])


def test_package_imports_and_scans_without_triton():
    """With triton missing (as on macOS) ``import bytevid_hf`` works, the backend is unavailable and ``auto`` scans
    with the others. (With triton present nothing compiles at import either: a kernel compiles on its first launch.)"""
    code = (
        "import sys\n"
        "sys.modules['triton'] = None  # import triton raises ImportError\n"
        "import torch, bytevid_hf\n"
        "from bytevid_hf.modeling import SCAN_BACKENDS, scan_triton, selective_scan\n"
        "assert scan_triton.triton is None and not SCAN_BACKENDS['triton'].available()\n"
        "u = torch.randn(1, 2, 5)\n"
        "y, _ = selective_scan(u, u.abs(), -torch.ones(2, 3), torch.randn(1, 3, 5), torch.randn(1, 3, 5))\n"
        "assert y.shape == u.shape\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]


def test_kernels_under_the_interpreter():
    """The ``interpreted`` tests above, in one process started with ``TRITON_INTERPRET=1`` (on CPU tensors)."""
    if interpreting():
        pytest.skip("already interpreting")
    env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", "interpreted"]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True,
                            timeout=900)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    print(f"interpreted triton tests: {summary} ({time.perf_counter() - start:.1f} s with the process start)")
    assert result.returncode == 0 and " passed" in summary, result.stdout[-6000:] + result.stderr[-3000:]
