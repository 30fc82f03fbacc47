#!/usr/bin/env python
"""Time the selective scan alone: the C kernel vs the chunked torch scan, forward and forward+backward.

One Mamba layer's scan (hidden 256, expand 2: E=512 channels, N=16 states, batch 1, fp32) at several lengths:
``selective_scan(u, delta, A, B, C, initial_state=h0, return_final_state=True, backend=...)`` with ``backend="c"``
and ``backend="torch"`` (Δ given after softplus, no D, gate or delta bias: the recurrence alone); the backward
flows from both y and the final state. Each cell is the median of --repeats timed calls after one warm-up call
(time.perf_counter).

    python scripts/bench_scan.py [--lengths 1024 4096 16384 65536] [--threads 2] [--repeats 3]
                                 [--skip-torch-above L] [--skip-torch-backward-above L]

The torch scan's forward+backward at 64K takes minutes on a small machine; skip it with the last options. Wall-clock
timings are sensitive to other processes: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from bytevid_hf.modeling import scan_c
from bytevid_hf.modeling.scan import TORCH_SCAN_CHUNK_SIZE, selective_scan


def make_inputs(length, channels, state, batch, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, channels, length, generator=g)
    delta = torch.nn.functional.softplus(torch.randn(batch, channels, length, generator=g) - 2.0)
    A = -torch.arange(1, state + 1, dtype=torch.float32).repeat(channels, 1)  # S4D-real init, as in Mamba
    B = torch.randn(batch, state, length, generator=g)
    C = torch.randn(batch, state, length, generator=g)
    h0 = torch.zeros(batch, channels, state)
    return u, delta, A, B, C, h0


def timed(fn, repeats):
    fn()  # warm-up (and, for the C path, the one-time build)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench(backend, inputs, repeats, backward):
    def forward():
        with torch.no_grad():
            selective_scan(*inputs[:5], initial_state=inputs[5], return_final_state=True, backend=backend)

    def forward_backward():
        leaves = [t.detach().requires_grad_() for t in inputs]
        y, h = selective_scan(*leaves[:5], initial_state=leaves[5], return_final_state=True, backend=backend)
        torch.autograd.backward((y, h), (torch.ones_like(y), torch.ones_like(h)))

    return timed(forward_backward if backward else forward, repeats)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 16384, 65536])
    parser.add_argument("--channels", type=int, default=512)
    parser.add_argument("--state", type=int, default=16)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch and kernel threads (default: torch's)")
    parser.add_argument("--skip-torch-above", type=int, default=None, metavar="L",
                        help="skip the torch scan entirely for lengths above L")
    parser.add_argument("--skip-torch-backward-above", type=int, default=None, metavar="L",
                        help="skip the (slow) torch forward+backward for lengths above L")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    info = scan_c.kernel_info()
    if "error" in info:
        raise SystemExit(f"C kernel unavailable: {info['error']}")
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    print(f"E={args.channels} N={args.state} batch={args.batch} fp32, threads={torch.get_num_threads()}, "
          f"median of {args.repeats} after 1 warm-up; load average at start: {load}")
    print(f"C kernel: {info['path']} ({' '.join(info['cflags'])}, OpenMP={info['openmp']}); "
          f"torch scan chunk: {TORCH_SCAN_CHUNK_SIZE.get('cpu')} positions")
    print()
    header = f"| {'L':>6} | {'fwd C (s)':>10} | {'fwd torch (s)':>13} | {'speed-up':>8} " \
             f"| {'fwd+bwd C (s)':>13} | {'fwd+bwd torch (s)':>17} | {'speed-up':>8} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for length in args.lengths:
        inputs = make_inputs(length, args.channels, args.state, args.batch)
        skip_fwd = args.skip_torch_above is not None and length > args.skip_torch_above
        skip_bwd = skip_fwd or (args.skip_torch_backward_above is not None
                                and length > args.skip_torch_backward_above)
        fc = bench("c", inputs, args.repeats, backward=False)
        ft = None if skip_fwd else bench("torch", inputs, args.repeats, backward=False)
        bc = bench("c", inputs, args.repeats, backward=True)
        bt = None if skip_bwd else bench("torch", inputs, args.repeats, backward=True)
        ft_s, fsp = ("skipped", "") if ft is None else (f"{ft:.4f}", f"{ft / fc:.1f}x")
        bt_s, bsp = ("skipped", "") if bt is None else (f"{bt:.4f}", f"{bt / bc:.1f}x")
        print(f"| {length:>6} | {fc:>10.4f} | {ft_s:>13} | {fsp:>8} | {bc:>13.4f} | {bt_s:>17} | {bsp:>8} |",
              flush=True)
    try:
        print(f"\nload average at end: {os.getloadavg()}")
    except OSError:
        pass


if __name__ == "__main__":
    main()
