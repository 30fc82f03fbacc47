"""On CUDA every stateful path runs on a fused kernel, never on the chunked torch scan unless asked (issue 16, item 3).

There is no GPU here, so the test replays the CUDA dispatch on CPU tensors: ``"auto"`` gets the CUDA order
(``AUTO_ORDER["cuda"]``), the fused kernels are stand-ins that compute the zero-start scan (mamba-ssm's contract: no
initial state, no final state) or the full scan with states (Triton's), and the torch scan is replaced by a function
that fails the test. Streaming, sub-sequence state carry (a cache passed on), sequence parallelism (one gloo rank) and
blockwise training with activation checkpointing then all run, and give the C backend's results.
"""

import pytest
import torch

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification
from bytevid_hf.modeling import scan as scan_module
from bytevid_hf.modeling.scan import SCAN_BACKENDS, ScanBackend, selective_scan_reference
from bytevid_hf.testing.numerics import make_long_memory_

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


def _zero_start(u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state, return_final_state):
    assert initial_state is None and not return_final_state
    return selective_scan_reference(u, delta, A, B, C, D, z, delta_bias, delta_softplus)[0].to(u.dtype), None


def _with_states(u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state, return_final_state):
    y, h = selective_scan_reference(u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state,
                                    return_final_state)
    return y.to(u.dtype), h


def _no_torch_scan(*args):
    pytest.fail("the chunked torch scan was reached by the CUDA dispatch")


@pytest.fixture(params=["mamba_ssm", "triton"])
def cuda_dispatch(request, monkeypatch):
    """The CUDA order on CPU tensors; ``mamba_ssm`` installed (then it runs, states through the correction), or not
    (then Triton runs)."""
    calls = []

    def counted(name, run):
        def wrapper(*args):
            calls.append(name)
            return run(*args)
        return wrapper

    monkeypatch.setitem(scan_module.AUTO_ORDER, "cpu", scan_module.AUTO_ORDER["cuda"])
    installed = request.param == "mamba_ssm"
    monkeypatch.setitem(SCAN_BACKENDS, "mamba_ssm", ScanBackend(
        "mamba_ssm", counted("mamba_ssm", _zero_start), ("cpu",), lambda: installed, False, False))
    monkeypatch.setitem(SCAN_BACKENDS, "triton", ScanBackend(
        "triton", counted("triton", _with_states), ("cpu",), lambda: True, True, True))
    monkeypatch.setitem(SCAN_BACKENDS, "torch", ScanBackend("torch", _no_torch_scan, ("cpu",), lambda: True, True, True))
    yield request.param, calls


def _model():
    torch.manual_seed(0)
    config = BytesVideoConfig.from_preset("bytes-micro", num_labels=3, mixer_block_size=150)
    return make_long_memory_(BytesVideoForClassification(config))


def test_auto_on_cuda_order():
    assert scan_module.AUTO_ORDER["cuda"][-1] == "torch"
    assert scan_module.AUTO_ORDER["cuda"].index("mamba_ssm") < scan_module.AUTO_ORDER["cuda"].index("torch")


def test_every_stateful_path_runs_on_a_fused_kernel(cuda_dispatch, monkeypatch):
    expected_kernel, calls = cuda_dispatch
    ids = torch.randint(0, 256, (1, 700), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    labels = torch.tensor([2])
    reference_model = _model()
    reference_model.config.ssm_backend = "c"
    reference = reference_model(ids, labels=labels)
    ref_grads = torch.autograd.grad(reference.loss, list(reference_model.parameters()))

    model = _model()  # config.ssm_backend = "auto": the (replayed) CUDA dispatch
    with torch.no_grad():  # streaming
        streamed = model.stream(ids[0], chunk_size=173, progress=False)
    torch.testing.assert_close(streamed.logits, reference.logits, rtol=1e-4, atol=1e-5)

    model.train()  # blockwise training with activation checkpointing + a carried cache between pieces
    model.activation_checkpointing_enable()
    cache, out = None, None
    for start in range(0, 700, 260):
        out = model(ids[:, start : start + 260], labels=labels, cache=cache, use_cache=True)
        cache = out.cache
    grads = torch.autograd.grad(out.loss, list(model.parameters()))
    torch.testing.assert_close(out.logits, reference.logits, rtol=1e-4, atol=1e-5)
    for g, g_ref in zip(grads, ref_grads):
        torch.testing.assert_close(g, g_ref, rtol=1e-3, atol=1e-5)

    import torch.distributed as dist

    from bytevid_hf.parallel import disable_sequence_parallel, enable_sequence_parallel

    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29517")
    dist.init_process_group("gloo", rank=0, world_size=1)
    try:  # sequence parallelism: each shard's state transition and its run from the true state
        model = enable_sequence_parallel(model.eval())
        with torch.no_grad():
            parallel = model(ids, labels=labels)
        torch.testing.assert_close(parallel.logits, reference.logits, rtol=1e-4, atol=1e-5)
        disable_sequence_parallel(model)
    finally:
        dist.destroy_process_group()
    assert calls and set(calls) == {expected_kernel}
