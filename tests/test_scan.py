"""The chunked selective scan against the naive sequential recurrence: outputs, final states and gradients."""

import pytest
import torch

from bytevid_hf.modeling.scan import cuda_backend_available, selective_scan, selective_scan_reference


def make_inputs(batch=2, channels=6, length=50, state=4, delta_scale=1.0, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, channels, length, generator=g, dtype=dtype)
    delta = torch.nn.functional.softplus(torch.randn(batch, channels, length, generator=g, dtype=dtype)) * delta_scale
    A = -torch.exp(torch.randn(channels, state, generator=g, dtype=dtype))
    B = torch.randn(batch, state, length, generator=g, dtype=dtype)
    C = torch.randn(batch, state, length, generator=g, dtype=dtype)
    h0 = torch.randn(batch, channels, state, generator=g, dtype=dtype)
    return u, delta, A, B, C, h0


@pytest.mark.parametrize(
    "length,chunk_size",
    [(1, 64), (7, 64), (64, 64), (65, 64), (100, 16), (129, 32), (257, 7)],
)
@pytest.mark.parametrize("with_initial_state", [False, True])
def test_outputs_and_states_match_naive_recurrence(length, chunk_size, with_initial_state):
    u, delta, A, B, C, h0 = make_inputs(length=length, seed=length)
    h0 = h0 if with_initial_state else None
    y, h = selective_scan(u, delta, A, B, C, initial_state=h0, chunk_size=chunk_size)
    y_ref, h_ref = selective_scan_reference(u, delta, A, B, C, initial_state=h0)
    torch.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(h, h_ref, rtol=1e-4, atol=1e-5)
    assert y.dtype == torch.float32 and h.shape == (2, 6, 4)


@pytest.mark.parametrize("length,chunk_size,delta_scale", [(45, 8, 1.0), (64, 64, 1.0), (33, 16, 40.0)])
def test_gradients_match_naive_recurrence(length, chunk_size, delta_scale):
    inputs = [t.requires_grad_() for t in make_inputs(length=length, delta_scale=delta_scale, seed=3)]
    weights = torch.randn(2, 6, length, dtype=torch.float64)

    def loss_of(y, h):
        return (y * weights).sum() + (h**2).sum()

    y, h = selective_scan(*inputs[:5], initial_state=inputs[5], chunk_size=chunk_size)
    grads = torch.autograd.grad(loss_of(y, h), inputs)
    y_ref, h_ref = selective_scan_reference(*inputs[:5], initial_state=inputs[5])
    grads_ref = torch.autograd.grad(loss_of(y_ref, h_ref), inputs)
    for name, g, g_ref in zip(["u", "delta", "A", "B", "C", "h0"], grads, grads_ref):
        assert torch.isfinite(g).all(), name
        torch.testing.assert_close(g.double(), g_ref, rtol=1e-3, atol=1e-4, msg=lambda m: f"grad {name}: {m}")


def test_extreme_time_steps_stay_finite_and_exact():
    """Δ·A far beyond fp32's exp range inside one chunk: the chunk splits itself and stays exact."""
    u, delta, A, B, C, h0 = make_inputs(length=40, seed=5)
    delta = delta * 1e3  # per-step log decay in the hundreds
    y, h = selective_scan(u, delta, A, B, C, initial_state=h0, chunk_size=40)
    y_ref, h_ref = selective_scan_reference(u, delta, A, B, C, initial_state=h0)
    assert torch.isfinite(y).all() and torch.isfinite(h).all()
    torch.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-4)


def test_state_carry_equals_one_pass():
    """Scanning two halves with the first half's final state as the second's initial state equals one pass."""
    u, delta, A, B, C, _ = make_inputs(length=90, seed=7)
    y, h = selective_scan(u, delta, A, B, C, chunk_size=16)
    y1, h1 = selective_scan(u[..., :37], delta[..., :37], A, B[..., :37], C[..., :37], chunk_size=16)
    y2, h2 = selective_scan(u[..., 37:], delta[..., 37:], A, B[..., 37:], C[..., 37:], initial_state=h1, chunk_size=16)
    torch.testing.assert_close(torch.cat((y1, y2), -1), y, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h2, h, rtol=1e-5, atol=1e-5)


def test_bad_shapes_are_named():
    u, delta, A, B, C, _ = make_inputs(length=10)
    with pytest.raises(ValueError, match="delta"):
        selective_scan(u, delta[..., :5], A, B, C)
    with pytest.raises(ValueError, match="initial_state"):
        selective_scan(u, delta, A, B, C, initial_state=torch.zeros(1, 1, 1))


@pytest.mark.cuda
@pytest.mark.skipif(not cuda_backend_available(), reason="needs CUDA and the mamba-ssm/causal-conv1d kernels")
def test_cuda_kernels_match_torch_scan():
    from bytevid_hf import BytesVideoConfig, BytesVideoForClassification

    torch.manual_seed(0)
    config = BytesVideoConfig.from_preset("bytes-micro", num_labels=3, ssm_backend="cuda")
    model = BytesVideoForClassification(config).cuda()
    ids = torch.randint(0, 256, (2, 3000), dtype=torch.uint8, device="cuda")
    mask = torch.ones_like(ids, dtype=torch.long)
    mask[1, 2000:] = 0
    labels = torch.tensor([0, 2], device="cuda")
    out_cuda = model(ids, attention_mask=mask, labels=labels)
    grads_cuda = torch.autograd.grad(out_cuda.loss, list(model.parameters()))
    model.config.ssm_backend = "torch"
    out_torch = model(ids, attention_mask=mask, labels=labels)
    grads_torch = torch.autograd.grad(out_torch.loss, list(model.parameters()))
    torch.testing.assert_close(out_cuda.logits, out_torch.logits, rtol=1e-3, atol=1e-4)
    for g_c, g_t in zip(grads_cuda, grads_torch):
        torch.testing.assert_close(g_c, g_t, rtol=1e-2, atol=1e-4)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_torch_scan_on_cuda_matches_cpu():
    """The portable path (chunked torch scan, blockwise layers) on a GPU equals the CPU run, forward and gradients."""
    from bytevid_hf import BytesVideoConfig, BytesVideoForClassification

    torch.manual_seed(0)
    config = BytesVideoConfig.from_preset("bytes-micro", num_labels=3, ssm_backend="torch", mixer_block_size=1000)
    model = BytesVideoForClassification(config)
    ids = torch.randint(0, 256, (2, 3000), dtype=torch.uint8)
    mask = torch.ones_like(ids, dtype=torch.long)
    mask[1, 2000:] = 0
    labels = torch.tensor([0, 2])
    out_cpu = model(ids, attention_mask=mask, labels=labels)
    grads_cpu = torch.autograd.grad(out_cpu.loss, list(model.parameters()))
    model.cuda()
    out_gpu = model(ids.cuda(), attention_mask=mask.cuda(), labels=labels.cuda())
    grads_gpu = torch.autograd.grad(out_gpu.loss, list(model.parameters()))
    torch.testing.assert_close(out_gpu.logits.cpu(), out_cpu.logits, rtol=1e-4, atol=1e-5)
    for g_gpu, g_cpu in zip(grads_gpu, grads_cpu):
        torch.testing.assert_close(g_gpu.cpu(), g_cpu, rtol=1e-3, atol=1e-5)
