#!/usr/bin/env python
"""Measure the numbers behind the README's numerics rows (issue 8.3) on CPU; prints one JSON object.

    python scripts/numerics_check.py --bytes 1000000          # bytes-micro, ~1 minute of CPU
    python scripts/numerics_check.py --bytes 65536 --preset bytes-tiny

* ``scan_extreme``: largest error of the selective scan (``backend="c"`` and ``backend="torch"``, from an initial
  state of magnitude 1e3) against a float64 naive loop, with
  Δ = softplus(±30 or N(0,1)), A from -1e-6 to -1e4 and inputs up to 1e4, in units of the tolerance used by
  tests/test_numerics.py (<= 1 passes);
* ``precision``: fp32 / bf16 / fp16 inference on one random input of ``--bytes`` bytes: whether every logit and
  pooled value is finite, and the relative error ||p - p_fp32|| / ||p_fp32|| of the pooled representation;
* ``stream_drift``: max |pooled(stream) - pooled(forward)| and max |pooled(forward)| on the same input.

The model is randomly initialised; for bytes-micro its SSMs are set to long memory (A ≈ -0.007…-0.05, Δ ≈ 0.05) as
in tests/test_numerics.py, so that states crossing chunk boundaries and accumulated rounding matter.
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch
import torch.nn.functional as F

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification
from bytevid_hf.modeling import selective_scan
from bytevid_hf.testing.numerics import make_long_memory_


def naive_scan_float64(u, delta, A, B, C, h0):
    u, delta, A, B, C, h = (t.double() for t in (u, delta, A, B, C, h0))
    ys = []
    for t in range(u.shape[-1]):
        h = torch.exp(delta[:, :, t, None] * A) * h + (delta[:, :, t] * u[:, :, t])[:, :, None] * B[:, None, :, t]
        ys.append((h * C[:, None, :, t]).sum(-1))
    return torch.stack(ys, -1), h


def scan_extreme(length=300, seed=0) -> dict:
    g = torch.Generator().manual_seed(seed)
    batch, channels, state = 2, 6, 4
    choice = torch.randint(0, 3, (batch, channels, length), generator=g)
    dt = torch.where(choice == 0, -30.0, torch.where(choice == 1, 30.0, torch.randn(batch, channels, length, generator=g)))
    delta = F.softplus(dt)
    A = -torch.logspace(-6, 4, channels * state).view(channels, state)[torch.randperm(channels, generator=g)]
    u = torch.randn(batch, channels, length, generator=g) * torch.logspace(-2, 4, channels)[None, :, None]
    B, C = torch.randn(batch, state, length, generator=g), torch.randn(batch, state, length, generator=g)
    h0 = torch.randn(batch, channels, state, generator=g) * 1e3
    y64, _ = naive_scan_float64(u, delta, A, B, C, h0)
    result = {}
    for kernel in ("c", "torch"):
        try:
            y, _ = selective_scan(u, delta, A, B, C, initial_state=h0, backend=kernel)
        except RuntimeError as exc:  # backend "c" without a C compiler: report instead of failing
            result[kernel] = f"unavailable: {exc}"
            continue
        bound = 1e-4 * y64.abs() + 1e-5 * y64.abs().amax(-1, keepdim=True) + 1e-30
        result[kernel] = {"finite": bool(torch.isfinite(y).all()),
                          "max_error_over_tolerance": float(((y.double() - y64).abs() / bound).max())}
    return result


def build(preset: str, seed: int = 0):
    torch.manual_seed(seed)
    model = BytesVideoForClassification(BytesVideoConfig.from_preset(preset, num_labels=5)).eval()
    if preset == "bytes-micro":
        make_long_memory_(model)
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bytes", type=int, default=1_000_000)
    parser.add_argument("--preset", default="bytes-micro")
    parser.add_argument("--chunk-size", type=int, default=8192, help="chunk size of the streaming run")
    parser.add_argument("--no-stream", action="store_true", help="skip the streaming comparison")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    result = {"threads": 1,
              "preset": args.preset, "bytes": args.bytes, "scan_extreme": scan_extreme()}
    model = build(args.preset)
    ids = torch.randint(0, 256, (1, args.bytes), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    precision, reference = {}, None
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        start = time.process_time()
        with torch.no_grad():
            out = copy.deepcopy(model).to(dtype)(ids)
        pooled = out.pooler_output.float()
        entry = {"finite": bool(torch.isfinite(out.logits).all() and torch.isfinite(out.pooler_output).all()),
                 "cpu_seconds": round(time.process_time() - start, 1)}
        if reference is None:
            reference = pooled
        else:
            entry["relative_error_vs_fp32"] = float((pooled - reference).norm() / reference.norm())
        precision[str(dtype).replace("torch.", "")] = entry
    result["precision"] = precision
    if not args.no_stream:
        with torch.no_grad():
            streamed = model.stream(ids[0].numpy(), chunk_size=args.chunk_size, progress=False).pooler_output
        result["stream_drift"] = {"chunk_size": args.chunk_size, "max_abs_diff": float((streamed - reference).abs().max()),
                                  "max_abs_pooled": float(reference.abs().max())}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
