"""The one selective-scan interface: every backend, with initial and final states, against the naive recurrence.

Backends under test: the C CPU kernel, the chunked torch scan, and a stand-in for a fused kernel that only starts from
zero (the naive recurrence itself, registered with ``supports_initial_state=False, supports_final_state=False``), so the
state-correction path that gives mamba-ssm its states (Eq. 3–4) is checked on CPU. The same stand-in is put under a
whole model in ``test_fused_kernel_with_correction_runs_the_stateful_model``.
"""

import pytest
import torch

from bytevid_hf.modeling import scan as scan_module
from bytevid_hf.modeling.scan import (
    SCAN_BACKENDS,
    ScanBackend,
    register_scan_backend,
    resolve_scan_backend,
    selective_scan,
    selective_scan_reference,
)
from bytevid_hf.modeling.scan_c import kernel_available
from bytevid_hf.modeling.scan_torch import torch_scan

NAMES = ["u", "delta", "A", "B", "C", "D", "z", "delta_bias", "initial_state"]
ZERO_START = "zero_start_reference"


def _zero_start_reference(u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state, return_final_state):
    """A 'fused kernel' that can only start from zero and returns no final state."""
    assert initial_state is None and not return_final_state, "the interface must not ask a zero-start kernel for states"
    y, _ = selective_scan_reference(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    return y.to(u.dtype), None


@pytest.fixture(autouse=True, scope="module")
def zero_start_backend():
    register_scan_backend(ScanBackend(ZERO_START, _zero_start_reference, ("cpu",), lambda: True, False, False))
    yield
    SCAN_BACKENDS.pop(ZERO_START)


BACKENDS = [pytest.param("c", marks=pytest.mark.skipif(not kernel_available(), reason="no C compiler")), "torch",
            ZERO_START]


def make_inputs(batch=2, channels=6, length=50, state=4, delta_scale=1.0, seed=0, dtype=torch.float64):
    """Raw inputs of the interface: delta before softplus; A negative; D, z, delta_bias, h0."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=dtype)

    return [randn(batch, channels, length), randn(batch, channels, length) * delta_scale,
            -torch.exp(randn(channels, state)), randn(batch, state, length), randn(batch, state, length),
            randn(channels), randn(batch, channels, length), randn(channels), randn(batch, channels, state)]


def run(fn, inputs, backend=None, with_state=True, dtype=torch.float32, seed=1):
    """Outputs, final state and every gradient of a random linear function of both."""
    leaves = [t.detach().to(dtype).requires_grad_() for t in inputs]
    kwargs = {} if backend is None else {"backend": backend}
    y, h = fn(*leaves[:8], delta_softplus=True, initial_state=leaves[8] if with_state else None,
              return_final_state=True, **kwargs)
    g = torch.Generator().manual_seed(seed)
    wy, wh = torch.randn(y.shape, generator=g, dtype=torch.float64), torch.randn(h.shape, generator=g, dtype=torch.float64)
    wy, wh = wy.to(y.dtype), wh.to(h.dtype)
    loss = (y * wy).sum() + (h * wh).sum()
    grads = torch.autograd.grad(loss, leaves if with_state else leaves[:8])
    return y.detach(), h.detach(), grads


def assert_matches(got, want, rtol=1e-4, grad_rtol=2e-4):
    y, h, grads = got
    y_ref, h_ref, grads_ref = want
    for name, a, b, tol in [("y", y, y_ref, rtol), ("final_state", h, h_ref, rtol)] + [
        (f"grad {n}", g, g_ref, grad_rtol) for n, g, g_ref in zip(NAMES, grads, grads_ref)
    ]:
        assert torch.isfinite(a).all(), name
        scale = max(1.0, b.abs().max().item())  # fp32 sums of terms much larger than the result, in other orders
        torch.testing.assert_close(a.double(), b.double(), rtol=tol, atol=tol * scale, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("length", [1, 7, 64, 65, 257])
@pytest.mark.parametrize("with_state", [False, True])
def test_every_backend_matches_the_naive_recurrence(backend, length, with_state):
    """y, the final state and the gradients of u, Δ, A, B, C, D, z, Δ-bias and the initial state (which flow from the
    final state as well) against a float64 loop."""
    inputs = make_inputs(length=length, seed=length)
    assert_matches(run(selective_scan, inputs, backend, with_state),
                   run(selective_scan_reference, inputs, with_state=with_state, dtype=torch.float64))


@pytest.mark.parametrize("backend", BACKENDS)
def test_large_time_steps_stay_finite_and_exact(backend):
    """Per-step log decays in the hundreds: exp(-S) would overflow fp32 without the torch scan's chunk splitting,
    every decay underflows in the C kernel, and the correction's exponents must stay ≤ 0."""
    inputs = make_inputs(length=40, seed=5)
    inputs[1] = inputs[1].abs() * 300 + 50
    assert_matches(run(selective_scan, inputs, backend), run(selective_scan_reference, inputs, dtype=torch.float64),
                   rtol=1e-4, grad_rtol=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_state_carry_equals_one_pass(backend):
    """Two halves, the second from the first's final state, equal one pass (outputs and state)."""
    u, delta, A, B, C, D, z, bias, _ = (t.float() for t in make_inputs(length=90, seed=7))
    y, h = selective_scan(u, delta, A, B, C, D, z, bias, True, return_final_state=True, backend=backend)
    first, second = slice(0, 37), slice(37, None)
    y1, h1 = selective_scan(u[..., first], delta[..., first], A, B[..., first], C[..., first], D, z[..., first], bias,
                            True, return_final_state=True, backend=backend)
    y2, h2 = selective_scan(u[..., second], delta[..., second], A, B[..., second], C[..., second], D, z[..., second],
                            bias, True, initial_state=h1, return_final_state=True, backend=backend)
    torch.testing.assert_close(torch.cat((y1, y2), -1), y, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h2, h, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_low_precision_inputs_accumulate_states_in_fp32(backend):
    """bf16/fp16 inputs: y comes back in the input dtype, the state in fp32, both close to the fp32 run."""
    inputs = make_inputs(length=60, seed=4)
    y32, h32, _ = run(selective_scan, inputs, backend)
    for dtype, tol in ((torch.bfloat16, 3e-2), (torch.float16, 5e-3)):
        leaves = [t.to(dtype) for t in inputs]
        y, h = selective_scan(*leaves[:8], delta_softplus=True, initial_state=leaves[8].float(),
                              return_final_state=True, backend=backend)
        assert y.dtype == dtype and h.dtype == torch.float32
        scale = y32.abs().max().item()
        torch.testing.assert_close(y.float(), y32, rtol=tol, atol=tol * scale)
        torch.testing.assert_close(h, h32, rtol=tol, atol=tol * h32.abs().max().item())


@pytest.mark.parametrize("length,chunk_size", [(1, 64), (65, 64), (100, 16), (129, 32), (257, 7)])
def test_torch_scan_chunk_sizes(length, chunk_size):
    """The torch scan's chunking never changes the result."""
    u, delta, A, B, C, _, _, _, h0 = (t.float() for t in make_inputs(length=length, seed=length))
    delta = torch.nn.functional.softplus(delta)
    y, h = torch_scan(u, delta, A, B, C, h0, chunk_size=chunk_size)
    y_ref, h_ref = selective_scan_reference(u, delta, A, B, C, initial_state=h0, return_final_state=True)
    torch.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(h, h_ref, rtol=1e-4, atol=1e-5)


def test_backend_resolution():
    assert resolve_scan_backend("auto", "cpu") == ("c" if kernel_available() else "torch")
    assert resolve_scan_backend(None, "cpu") == resolve_scan_backend("auto", "cpu")
    assert resolve_scan_backend("torch", "cpu") == "torch"
    with pytest.raises(ValueError, match="unknown backend 'fortran'"):
        resolve_scan_backend("fortran", "cpu")
    with pytest.raises(RuntimeError, match="runs on \\['cuda'\\] tensors, got cpu"):
        resolve_scan_backend("mamba_ssm", "cpu")


def test_auto_on_cuda_prefers_the_fused_kernel_and_never_the_torch_scan_when_it_is_there(monkeypatch):
    """The dispatch for a CUDA tensor, exercised on CPU: with mamba-ssm available every call — with or without
    states — goes to it (states through the correction), never to the torch scan."""
    fused = SCAN_BACKENDS["mamba_ssm"]
    monkeypatch.setitem(SCAN_BACKENDS, "mamba_ssm", ScanBackend("mamba_ssm", _zero_start_reference, ("cuda", "cpu"),
                                                                lambda: True, False, False))
    monkeypatch.setitem(scan_module.AUTO_ORDER, "cpu", ("mamba_ssm", "torch"))
    monkeypatch.setitem(SCAN_BACKENDS, "torch", ScanBackend("torch", lambda *a: pytest.fail("torch scan reached"),
                                                            ("cpu", "cuda"), lambda: True, True, True))
    inputs = make_inputs(length=30, seed=2)
    assert_matches(run(selective_scan, inputs, "auto"), run(selective_scan_reference, inputs, dtype=torch.float64))
    assert resolve_scan_backend("auto", "cuda") == "mamba_ssm"
    assert fused.supports_initial_state is False


def test_bad_shapes_are_named():
    u, delta, A, B, C, D, z, bias, h0 = (t.float() for t in make_inputs(length=10))
    with pytest.raises(ValueError, match="delta shape"):
        selective_scan(u, delta[..., :5], A, B, C)
    with pytest.raises(ValueError, match="initial_state"):
        selective_scan(u, delta, A, B, C, initial_state=torch.zeros(1, 1, 1))
    with pytest.raises(ValueError, match="D must be"):
        selective_scan(u, delta, A, B, C, D=D[:3])
    with pytest.raises(ValueError, match="z shape"):
        selective_scan(u, delta, A, B, C, z=z[..., :3])


def test_empty_sequence_returns_the_initial_state():
    u, delta, A, B, C, _, _, _, h0 = (t.float() for t in make_inputs(length=0))
    y, h = selective_scan(u, delta, A, B, C, initial_state=h0, return_final_state=True)
    assert y.shape == (2, 6, 0) and torch.equal(h, h0)


def test_fused_kernel_with_correction_runs_the_stateful_model():
    """A whole model on the zero-start stand-in: streaming chunk by chunk (initial and final states through the
    correction) equals the C/torch model's one-call forward; so do its gradients with a carried cache."""
    from bytevid_hf import BytesVideoConfig, BytesVideoForClassification
    from bytevid_hf.testing.numerics import make_long_memory_

    torch.manual_seed(0)
    model = make_long_memory_(BytesVideoForClassification(BytesVideoConfig.from_preset("bytes-micro", num_labels=3)))
    ids = torch.randint(0, 256, (1, 700), dtype=torch.uint8)
    labels = torch.tensor([2])
    reference = model(ids, labels=labels)
    ref_grads = torch.autograd.grad(reference.loss, list(model.parameters()))
    model.config.ssm_backend = ZERO_START
    cache, out = None, None
    for start in range(0, 700, 300):
        out = model(ids[:, start : start + 300], labels=labels, cache=cache, use_cache=True)
        cache = out.cache  # not detached: the last piece's loss is the whole video's
    grads = torch.autograd.grad(out.loss, list(model.parameters()))
    torch.testing.assert_close(out.logits, reference.logits, rtol=1e-4, atol=1e-5)
    for g, g_ref in zip(grads, ref_grads):
        torch.testing.assert_close(g, g_ref, rtol=1e-3, atol=1e-5)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("backend", ["torch", "mamba_ssm"])
def test_cuda_backends_match_the_naive_recurrence(backend):
    if not SCAN_BACKENDS[backend].available():
        pytest.skip(f"{backend} not available")
    inputs = [t.cuda() for t in make_inputs(length=300, seed=3)]
    got = run(selective_scan, inputs, backend)
    want = run(selective_scan_reference, [t.cpu() for t in inputs], dtype=torch.float64)
    assert_matches(tuple(x.cpu() if torch.is_tensor(x) else [g.cpu() for g in x] for x in got), want)
