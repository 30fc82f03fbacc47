"""Analytic forward FLOPs of a [`BytesVideoForClassification`] for any ``BytesVideoConfig`` and input length.

A multiply-add counts as 2 FLOPs. Counted: every matrix multiplication (Linear layers, attention scores and
weighted sums, the pooling projections), every convolution (depthwise and dense) and the selective scan, which is
counted as ``SCAN_FLOPS_PER_STATE`` = 7 FLOPs per position, channel and state (discretisation Δ·A and Δ·B·x: 3,
state update h·Ā + B̄x: 2, readout C·h: 2; the exp is not counted). Element-wise work that does not scale with the
state size (norms, activations, gating, residuals) is not counted, as is usual for FLOP counts. Lengths are those the
implementation actually processes: the input padded to ``config.total_pool_factor``, chunks of ``"chunked_ssm"`` and
blocks of sliding-window attention padded to whole chunks/windows. Global causal attention is counted as the dense
L×L product SDPA nominally computes (as ``torch.utils.flop_counter`` does), not the causal half.

``tests/test_mixers_ablation.py`` checks the matmul/conv part against ``torch.utils.flop_counter.FlopCounterMode`` on
tiny models of every ``mixer_type``.

    from bytevid_hf.experiments.flops import forward_flops
    forward_flops(BytesVideoConfig.from_preset("bytes-tiny"), 262_144) / 1e12   # TFLOPs per video
"""

from __future__ import annotations

import math

from ..modeling.configuration_bytevid import BytesVideoConfig

SCAN_FLOPS_PER_STATE = 7


def _ceil_to(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _mamba_block(config: BytesVideoConfig, width: int, positions: int) -> dict[str, int]:
    inner = config.expand * width
    rank, state = config.time_step_rank_for(width), config.state_size
    matmul = 2 * positions * (
        width * 2 * inner  # in_proj
        + inner * config.conv_kernel  # depthwise causal conv
        + inner * (rank + 2 * state)  # x_proj
        + rank * inner  # dt_proj
        + inner * width  # out_proj
    )
    return {"matmul": matmul, "scan": SCAN_FLOPS_PER_STATE * positions * inner * state}


def _attention_block(config: BytesVideoConfig, width: int, positions: int, window: int | None) -> dict[str, int]:
    projections = 2 * positions * (width * 3 * width + width * width)  # qkv, out_proj
    mlp = 2 * positions * 2 * width * config.attention_mlp_ratio * width  # up_proj, down_proj
    if window is None or positions <= window:
        scores = 2 * 2 * positions * positions * width  # QKᵀ and PV over all heads
    else:
        padded = _ceil_to(positions, window)
        scores = 2 * 2 * padded * 2 * window * width  # each query block against 2·window keys
    return {"matmul": projections + mlp, "attention": scores}


def _conv_block(config: BytesVideoConfig, width: int, positions: int) -> dict[str, int]:
    inner = config.expand * width
    return {"matmul": 2 * positions * (width * 2 * inner + inner * config.conv_mixer_kernel + inner * width)}


def _pooling(config: BytesVideoConfig, width: int, out_width: int, positions: int) -> int:
    windows = positions // config.pool_size
    if config.pooling == "concat":
        return 2 * windows * config.pool_size * width * out_width
    flops = 2 * windows * width * out_width  # proj
    if config.pooling == "attention":
        flops += 2 * 2 * positions * width * width  # key, value
        flops += 2 * 2 * positions * width  # query·keys and probs·values
    return flops


def forward_flops(
    config: BytesVideoConfig, length: int, batch_size: int = 1, breakdown: bool = False
) -> int | dict[str, int]:
    """FLOPs of one forward of ``BytesVideoForClassification(config)`` on ``batch_size`` inputs of ``length`` bytes.

    With ``breakdown=True`` returns a dict: ``matmul`` (Linear layers and convolutions of the blocks), ``scan``
    (selective scan), ``attention`` (scores and weighted sums), ``pooling``, ``stem`` (bf_ti's Conv1d), ``head``
    and ``total``.
    """
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f"forward_flops: length must be an integer >= 1 (bytes), got {length!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"forward_flops: batch_size must be an integer >= 1, got {batch_size!r}")
    parts = dict.fromkeys(("matmul", "scan", "attention", "pooling", "stem", "head"), 0)
    # Each level runs on ceil(its input / the window) positions: the pooling layers pad to whole windows.
    positions = length
    widths, mixer = config.level_widths, config.mixer_type
    if mixer == "bf_ti":
        positions = -(-positions // config.bf_ti_conv_stride)
        stride = config.bf_ti_conv_stride
        parts["stem"] = 2 * positions * config.hidden_size * config.hidden_size * 2 * stride
    for level, (width, blocks) in enumerate(zip(widths, config.blocks_per_level)):
        if mixer in ("mamba", "mamba_flat") or (mixer == "chunked_ssm" and level == len(widths) - 1):
            block = _mamba_block(config, width, positions)
        elif mixer == "chunked_ssm":
            block = _mamba_block(config, width, _ceil_to(positions, config.ssm_chunk_size // config.pool_size**level))
        elif mixer == "transformer":
            block = _attention_block(config, width, positions, None)
        elif mixer in ("local_attention", "bf_ti"):
            block = _attention_block(config, width, positions, config.attention_window)
        else:  # causal_conv
            block = _conv_block(config, width, positions)
        for key, value in block.items():
            parts[key] += blocks * value
        if level < len(widths) - 1:
            if mixer == "bf_ti":
                positions = -(-positions // 2)  # max pooling: no FLOPs counted
            else:
                positions = _ceil_to(positions, config.pool_size)  # the padded window, pooled like the others
                parts["pooling"] += _pooling(config, width, widths[level + 1], positions)
                positions //= config.pool_size
    parts["head"] = 2 * widths[-1] * config.num_labels
    parts = {key: value * batch_size for key, value in parts.items()}
    parts["total"] = sum(parts.values())
    return parts if breakdown else parts["total"]


def count_parameters(config: BytesVideoConfig) -> int:
    """Parameters of ``BytesVideoForClassification(config)``, counted on the meta device (no memory allocated)."""
    import torch

    from ..modeling import BytesVideoForClassification

    with torch.device("meta"):
        model = BytesVideoForClassification(config)
    return sum(p.numel() for p in model.parameters())


__all__ = ["forward_flops", "count_parameters", "SCAN_FLOPS_PER_STATE"]
