"""Helpers for numerical checks (tests and ``scripts/numerics_check.py``), in the spirit of ``transformers.testing_utils``."""

from __future__ import annotations

import torch


@torch.no_grad()
def make_long_memory_(model: torch.nn.Module, bc_std: float | None = 0.5) -> torch.nn.Module:
    """Give every Mamba mixer of ``model`` slowly decaying SSM states, in place, and return the model.

    A fresh init forgets within a few bytes, so carried states, shard boundaries and accumulated rounding would not
    show in a check. Here A ∈ [-0.05, -0.007] (``A_log`` ~ U(-5, -3)) and Δ = softplus(-3) ≈ 0.05, so states persist
    over thousands of positions; with ``bc_std`` the ``x_proj`` weights (which produce Δ, B and C) are drawn from
    N(0, bc_std) so that the state term C·h is of the order of D·u. Parameters are visited in ``named_parameters``
    order, so the result is fixed by the torch seed.
    """
    for name, param in model.named_parameters():
        if name.endswith("A_log"):
            param.uniform_(-5.0, -3.0)
        elif name.endswith("dt_proj.bias"):
            param.fill_(-3.0)
        elif bc_std is not None and name.endswith("x_proj.weight"):
            param.normal_(0.0, bc_std)
    return model


__all__ = ["make_long_memory_"]
