"""The mamba-ssm backend of :func:`.scan.selective_scan`: mamba-ssm's fused selective-scan CUDA kernel.

Optional (``pip install 'bytevid-hf[cuda]'``; it builds only with a GPU toolchain). The kernel starts from a zero state
and its last state carries no gradient, so this backend declares neither; :func:`.scan.selective_scan` adds an initial
state and a differentiable final state through the state correction (:mod:`.state_correction`).
"""

from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=1)
def _kernel():
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception:  # ImportError, or a broken CUDA build raising at import time
        return None
    return selective_scan_fn


def mamba_ssm_available() -> bool:
    """True when CUDA is usable and mamba-ssm's kernel imports."""
    return torch.cuda.is_available() and _kernel() is not None


def mamba_ssm_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state, return_final_state):
    """The fused kernel from a zero state: ``(y, None)`` with y (B, E, L) in u's dtype."""
    if initial_state is not None or return_final_state:
        raise ValueError("the mamba_ssm backend starts from a zero state and returns no final state")
    kernel = _kernel()
    if kernel is None:
        raise RuntimeError("the mamba_ssm backend needs mamba-ssm (pip install 'bytevid-hf[cuda]') and a CUDA GPU")
    y = kernel(
        u.contiguous(), delta.contiguous(), A.float().contiguous(), B.contiguous(), C.contiguous(),
        None if D is None else D.float(), z=None if z is None else z.contiguous(),
        delta_bias=None if delta_bias is None else delta_bias.float(), delta_softplus=delta_softplus,
    )
    return y.to(u.dtype), None


__all__ = ["mamba_ssm_available", "mamba_ssm_scan"]
