"""The C selective-scan kernel (CPU): exactness against the naive recurrence and the torch scan, every gradient,
extreme time steps, thread-count independence, its custom ops (``torch.library.opcheck``) and what happens when it
cannot be built (``ssm_backend="auto"`` falls back to the torch scan, ``"c"`` raises)."""

import logging
import sys

import pytest
import torch

from functools import partial

from bytevid_hf.modeling import scan_c as scan_kernel
from bytevid_hf.modeling.scan import SCAN_BACKENDS, resolve_scan_backend, selective_scan_reference
from bytevid_hf.modeling.scan import selective_scan as _interface

selective_scan = partial(_interface, return_final_state=True, backend="c")
torch_selective_scan = partial(_interface, return_final_state=True, backend="torch")
selective_scan_reference = partial(selective_scan_reference, return_final_state=True)

NAMES = ["u", "delta", "A", "B", "C", "h0"]


@pytest.fixture(autouse=True)
def _threads():
    """torch single-threaded: the naive reference and the torch scan launch thousands of tiny ops, which intra-op
    threads only slow down (badly so on a loaded machine). The C kernel is given 2 threads explicitly."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    scan_kernel.set_num_threads(2)
    yield
    torch.set_num_threads(threads)
    scan_kernel.set_num_threads(None)


@pytest.fixture
def c_kernel():
    """The C kernel (skip when this machine cannot build it)."""
    if not scan_kernel.kernel_available():
        pytest.skip(f"C kernel unavailable: {scan_kernel.kernel_info().get('error')}")
    return scan_kernel


@pytest.fixture
def no_compiler(monkeypatch):
    """The kernel as on a machine without a C compiler; the real kernel is reloaded afterwards."""
    monkeypatch.setattr(scan_kernel, "_compilers", list)
    scan_kernel.reset_kernel()
    yield
    monkeypatch.undo()
    scan_kernel.reset_kernel()


def make_inputs(batch=2, channels=6, length=50, state=16, delta="random", seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, channels, length, generator=g)
    dt = torch.nn.functional.softplus(torch.randn(batch, channels, length, generator=g))
    if delta == "extreme":
        # per-step log decay from 0 to ~1e4: decays of exactly 1, ordinary ones and ones that underflow to 0
        dt = dt * torch.tensor([0.0, 1.0, 30.0, 1e3, 1e4])[torch.randint(0, 5, dt.shape, generator=g)]
    A = -torch.exp(torch.randn(channels, state, generator=g))
    B = torch.randn(batch, state, length, generator=g)
    C = torch.randn(batch, state, length, generator=g)
    h0 = torch.randn(batch, channels, state, generator=g)
    return u, dt, A, B, C, h0


def run_with_grads(fn, inputs, seed=1):
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    y, h = fn(*leaves[:5], initial_state=leaves[5])
    g = torch.Generator().manual_seed(seed)
    wy, wh = torch.randn(y.shape, generator=g), torch.randn(h.shape, generator=g)
    grads = torch.autograd.grad((y * wy).sum() + (h * wh).sum(), leaves)
    return y.detach(), h.detach(), grads


def assert_all_close(got, want, rtol=1e-4, atol=1e-5, grad_rtol=1e-4, grad_atol=2e-5):
    """Elementwise, with the absolute tolerance relative to the tensor's largest entry: both sides are fp32 sums of
    terms that can be much larger than the result (huge Δ makes states of size ~1e5), summed in different orders."""
    y, h, grads = got
    y_ref, h_ref, grads_ref = want
    for name, a, b, rt, at in [("y", y, y_ref, rtol, atol), ("final_state", h, h_ref, rtol, atol)] + [
        (f"grad {n}", g, g_ref, grad_rtol, grad_atol) for n, g, g_ref in zip(NAMES, grads, grads_ref)
    ]:
        assert torch.isfinite(a).all(), name
        scale = max(1.0, b.abs().max().item())
        torch.testing.assert_close(a, b, rtol=rt, atol=at * scale, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("length", [1, 7, 63, 64, 65, 1000])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("delta", ["random", "extreme"])
def test_c_kernel_matches_naive_recurrence(c_kernel, length, batch, delta):
    inputs = make_inputs(batch=batch, length=length, delta=delta, seed=length)
    got = run_with_grads(selective_scan, inputs)
    assert_all_close(got, run_with_grads(selective_scan_reference, inputs))


@pytest.mark.parametrize("state", [8, 5, 32])  # 8-lane vectors, the scalar path, several vectors
def test_c_kernel_other_state_sizes(c_kernel, state):
    inputs = make_inputs(batch=2, channels=19, length=150, state=state, seed=state)
    assert_all_close(run_with_grads(selective_scan, inputs), run_with_grads(selective_scan_reference, inputs))


def test_c_kernel_matches_torch_chunked_scan(c_kernel):
    """Long sequence (several checkpoint blocks, two super-blocks), two channel groups, the mixer's layouts
    (B, C as transposed views, delta non-contiguous)."""
    u, delta, A, B, C, h0 = make_inputs(batch=2, channels=20, length=1100, seed=11)
    B, C = B.transpose(1, 2).contiguous().transpose(1, 2), C.transpose(1, 2).contiguous().transpose(1, 2)
    delta = delta.transpose(1, 2).contiguous().transpose(1, 2)
    inputs = (u, delta, A, B, C, h0)
    got = run_with_grads(selective_scan, inputs)
    want = run_with_grads(torch_selective_scan, inputs)
    assert_all_close(got, want, rtol=1e-4, atol=1e-4, grad_rtol=1e-3, grad_atol=1e-3)


@pytest.mark.parametrize("state", [1, 8])  # the scalar and the vector exp
def test_exp_is_accurate_and_underflows_to_exact_zero(c_kernel, state):
    """One step with B = 0 and Δ = 1: the final state is exp(A)·h0. Checks the kernel's exp over the whole range,
    including decays far below fp32's smallest number (exactly 0, never NaN)."""
    x = torch.cat((-torch.logspace(-6, 5, 2047), torch.zeros(1)))  # Δ·A from -1e5 to 0
    A = x.reshape(-1, state)
    channels = A.shape[0]
    h0 = torch.ones(1, channels, state)
    zeros = torch.zeros(1, state, 1)
    _, h = selective_scan(torch.zeros(1, channels, 1), torch.ones(1, channels, 1), A, zeros, zeros, initial_state=h0)
    h = h.flatten().double()
    want = torch.exp(x.double())
    assert torch.isfinite(h).all()
    normal = x > -87.3
    torch.testing.assert_close(h[normal], want[normal], rtol=3e-7, atol=0)  # ~2.5 ulp
    assert (h[x < -87.4] == 0).all()
    assert (h[~normal] <= 1.2e-38).all()


def test_extreme_time_steps_exact(c_kernel):
    """Δ·A in the thousands: every decay is 0, so h_t = Δ_t·u_t·B_t exactly."""
    u, delta, A, B, C, h0 = make_inputs(batch=2, channels=5, length=30, seed=3)
    delta = delta + 1e4
    y, h = selective_scan(u, delta, A, B, C, initial_state=h0)
    states = (delta * u)[:, :, None, :] * B[:, None]  # (B, E, N, L)
    torch.testing.assert_close(y, (states * C[:, None]).sum(2), rtol=1e-5, atol=1e-2)
    torch.testing.assert_close(h, states[..., -1], rtol=1e-6, atol=0)
    y_ref, h_ref = selective_scan_reference(u, delta, A, B, C, initial_state=h0)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-2)
    torch.testing.assert_close(h, h_ref, rtol=1e-6, atol=0)


def test_partial_gradients_and_missing_output_grads(c_kernel):
    """Only some inputs require grad (the kernel skips grad_B/grad_C/grad_h0), loss on y only or on h only."""
    inputs = make_inputs(batch=2, channels=7, length=130, seed=5)
    for wanted in ([0], [1, 2], [3], [4, 5]):
        for use_y, use_h in ((True, False), (False, True)):
            grads = {}
            for fn in (selective_scan, selective_scan_reference):
                leaves = [t.clone().requires_grad_(i in wanted) for i, t in enumerate(inputs)]
                y, h = fn(*leaves[:5], initial_state=leaves[5])
                loss = (y.sin().sum() if use_y else 0) + (h.cos().sum() if use_h else 0)
                grads[fn] = torch.autograd.grad(loss, [leaves[i] for i in wanted], allow_unused=True)
            for g, g_ref, i in zip(grads[selective_scan], grads[selective_scan_reference], wanted):
                g_ref = torch.zeros_like(inputs[i]) if g_ref is None else g_ref  # C does not reach the final state
                torch.testing.assert_close(g, g_ref, rtol=1e-3, atol=1e-4)


def test_inference_path_equals_training_path(c_kernel):
    inputs = make_inputs(batch=2, channels=9, length=300, seed=9)
    with torch.no_grad():
        y0, h0 = selective_scan(*inputs[:5], initial_state=inputs[5])
    y1, h1, _ = run_with_grads(selective_scan, inputs)
    assert torch.equal(y0, y1) and torch.equal(h0, h1)


def test_results_do_not_depend_on_thread_count(c_kernel):
    """Bitwise identical outputs and gradients with 1, 2 and 3 threads (3 uneven channel groups, 2 super-blocks)."""
    inputs = make_inputs(batch=2, channels=40, length=1500, seed=4)
    results = []
    for threads in (1, 2, 3):
        c_kernel.set_num_threads(threads)
        results.append(run_with_grads(selective_scan, inputs))
        if c_kernel.kernel_info()["openmp"]:
            assert c_kernel.load_kernel().bv_last_num_threads() == threads  # the backward really ran on them
    for other in results[1:]:
        for a, b in zip((results[0][0], results[0][1], *results[0][2]), (other[0], other[1], *other[2])):
            assert torch.equal(a, b)


def test_custom_ops_pass_opcheck(c_kernel):
    """Schema, fake (meta) implementation and autograd registration of the C kernel's ops, as torch.compile and
    torch.export use them."""
    u, delta, A, B, C, h0 = make_inputs(batch=2, channels=5, length=70, state=8, seed=2)
    args = [t.clone().requires_grad_() for t in (u, delta, A, B, C, h0)]
    torch.library.opcheck(scan_kernel.c_scan_forward, (*args, True))
    torch.library.opcheck(scan_kernel.c_scan_forward, (u, delta, A, B, C, h0, False))


def test_auto_uses_the_c_kernel_on_cpu():
    if not scan_kernel.kernel_available():
        pytest.skip("C kernel unavailable")
    assert resolve_scan_backend("auto", "cpu") == "c"


def test_without_compiler_falls_back_with_one_warning(no_compiler, caplog):
    inputs = make_inputs(length=70)
    with caplog.at_level(logging.WARNING, logger=scan_kernel.__name__):
        for _ in range(3):
            assert resolve_scan_backend("auto", "cpu") == "torch"
            got = run_with_grads(partial(_interface, return_final_state=True), inputs)
    warnings = [r for r in caplog.records if r.name == scan_kernel.__name__ and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "torch scan" in warnings[0].getMessage()
    assert not scan_kernel.kernel_available()
    assert_all_close(got, run_with_grads(selective_scan_reference, inputs))
    with pytest.raises(RuntimeError, match="backend 'c' is not available: RuntimeError: no C compiler found"):
        selective_scan(*inputs[:5])


def test_compile_error_falls_back(monkeypatch, tmp_path, caplog):
    if not scan_kernel._compilers():
        pytest.skip("no C compiler")
    monkeypatch.setattr(scan_kernel, "C_SOURCE", "this is not C;\n")
    monkeypatch.setenv("BYTEVID_HF_CACHE", str(tmp_path / "cache"))
    scan_kernel.reset_kernel()
    try:
        with caplog.at_level(logging.WARNING, logger=scan_kernel.__name__):
            y, _ = _interface(*make_inputs(length=5)[:5])
        assert y.shape == (2, 6, 5) and not scan_kernel.kernel_available()
        assert "could not build" in caplog.text
        assert not list((tmp_path / "cache").glob("*.so"))
    finally:
        monkeypatch.undo()
        scan_kernel.reset_kernel()


def test_build_goes_to_the_cache_dir_and_is_reused(monkeypatch, tmp_path):
    if not scan_kernel._compilers():
        pytest.skip("no C compiler")
    monkeypatch.setenv("BYTEVID_HF_CACHE", str(tmp_path))
    scan_kernel.reset_kernel()
    try:
        info = scan_kernel.kernel_info()
        assert "error" not in info, info
        built = list(tmp_path.iterdir())
        assert [p.name for p in built] == [info["path"].rsplit("/", 1)[-1]]  # no temporary files left behind
        mtime = built[0].stat().st_mtime_ns
        scan_kernel.reset_kernel()
        assert scan_kernel.kernel_info()["path"] == info["path"] and built[0].stat().st_mtime_ns == mtime
    finally:
        monkeypatch.undo()
        scan_kernel.reset_kernel()


def test_loading_the_kernel_keeps_subnormals(c_kernel):
    """Linking with -ffast-math would turn on flush-to-zero for the whole process; the kernel must not."""
    scan_kernel.load_kernel()
    tiny = sys.float_info.min
    assert tiny / 4 > 0
    assert (torch.tensor([1e-39]) * 0.5).item() > 0


def test_mamba_model_c_vs_torch():
    """A whole (tiny) model, forward and backward: the C backend agrees with the torch backend."""
    if not scan_kernel.kernel_available():
        pytest.skip("C kernel unavailable")
    from bytevid_hf import BytesVideoConfig, BytesVideoForClassification

    torch.manual_seed(0)
    model = BytesVideoForClassification(BytesVideoConfig.from_preset("bytes-micro", num_labels=3))
    ids = torch.randint(0, 256, (2, 400), dtype=torch.uint8)
    labels = torch.tensor([0, 2])
    results = {}
    for backend in ("c", "torch"):
        model.config.ssm_backend = backend
        out = model(ids, labels=labels)
        results[backend] = (out.logits, torch.autograd.grad(out.loss, list(model.parameters())))
    torch.testing.assert_close(results["c"][0], results["torch"][0], rtol=1e-4, atol=1e-5)
    for g_c, g_t in zip(results["c"][1], results["torch"][1]):
        torch.testing.assert_close(g_c, g_t, rtol=1e-3, atol=1e-5)
