#!/usr/bin/env python
"""GPU timings of every CUDA scan backend — Triton, mamba-ssm, the torch scan — stateless and stateful.

    python scripts/bench_cuda.py [--out benchmarks/results/cuda] [--lengths 16384 262144] [--clip-bytes 262144]
                                 [--pieces 4] [--repeats 3] [--scan-chunk-size N] [--activation-checkpointing]

Rows (each backend that is available; ``config.ssm_backend`` selects it):

* one Mamba layer (bytes-tiny's first level: D=256, E=512, N=16) at each ``--lengths`` L, forward (no_grad) and
  forward+backward (loss = output sum, plus the final state's sum when there is one), without state and with a random
  initial state in and the final state out (the stateful path: streaming, state carry, sequence parallelism);
* bytes-tiny (400 labels) forward+backward on a ``--clip-bytes`` clip cut into ``--pieces`` sub-sequences with the
  cache carried from piece to piece (detached, as ``SubsequenceTrainer`` does), and the same clip in one piece.

The issue's goal is printed for every stateful row: its time over mamba-ssm's stateless row of the same length
(≤ 1.5× wanted). Each cell: one warm-up call, then the median of ``--repeats`` calls timed with
``torch.cuda.synchronize`` around ``time.perf_counter``; peak memory is ``torch.cuda.max_memory_allocated``. Also
checks that every backend gives the same bytes-tiny logits. Writes ``cuda.json`` and ``cuda.md`` (a README table)
under ``--out``. Needs a CUDA GPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification
from bytevid_hf.modeling import BytesVideoMambaMixer, MambaLayerState
from bytevid_hf.modeling.scan import SCAN_BACKENDS, TORCH_SCAN_CHUNK_SIZE, torch_scan_chunk_size

BACKENDS = ("triton", "mamba_ssm", "torch")
LABELS = {
    "triton": "this package's Triton kernel (states native)",
    "mamba_ssm": "mamba-ssm's fused kernel (zero start; states through the state correction)",
    "torch": "this package's chunked torch scan",
}
GOAL = 1.5  # stateful rows within this factor of mamba-ssm's stateless kernel


def timed(fn, repeats):
    fn()
    torch.cuda.synchronize()
    times, peaks = [], []
    for _ in range(repeats):
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        peaks.append(torch.cuda.max_memory_allocated() / 2**20)
    return {"median_s": statistics.median(times), "peak_mb": max(peaks), "status": "ok"}


def cell(fn, repeats):
    try:
        return timed(fn, repeats)
    except torch.OutOfMemoryError as exc:
        torch.cuda.empty_cache()
        return {"status": "out_of_memory", "reason": str(exc).splitlines()[0]}
    except Exception as exc:  # a backend that fails on this GPU is a result, not a crash of the whole run
        return {"status": "error", "reason": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}


def layer_rows(lengths, backends, repeats, checkpointing):
    config = BytesVideoConfig.from_preset("bytes-tiny")
    rows = []
    for length in lengths:
        for backend in backends:
            for stateful in (False, True):
                config.ssm_backend = backend
                torch.manual_seed(0)
                mixer = BytesVideoMambaMixer(config, 256).cuda().train()
                mixer.init_mamba_weights(1)
                mixer.gradient_checkpointing = checkpointing  # the flag activation_checkpointing_enable() sets
                x = torch.randn(1, length, 256, device="cuda")
                state = None
                if stateful:
                    empty = mixer.empty_state(x)
                    state = MambaLayerState(empty.conv_state, torch.randn_like(empty.ssm_state))

                def forward():
                    with torch.no_grad():
                        mixer(x, state=state, return_state=stateful)

                xg = x.clone().requires_grad_(True)

                def train():
                    out, final = mixer(xg, state=state, return_state=stateful)
                    loss = out.float().sum() + (final.ssm_state.sum() if final is not None else 0)
                    loss.backward()

                row = {"length": length, "backend": backend, "stateful": stateful,
                       "forward": cell(forward, repeats), "backward": cell(train, repeats)}
                rows.append(row)
                print(f"layer L={length:>7} {backend:>9} {'stateful ' if stateful else 'stateless'}: "
                      f"fwd {row['forward']} | fwd+bwd {row['backward']}", flush=True)
    return rows


def model_rows(clip_bytes, pieces, backends, repeats, checkpointing):
    torch.manual_seed(0)
    config = BytesVideoConfig.from_preset("bytes-tiny", num_labels=400)
    model = BytesVideoForClassification(config).cuda().train()
    if checkpointing:
        model.activation_checkpointing_enable()
    ids = torch.randint(0, 256, (1, clip_bytes), dtype=torch.uint8, device="cuda")
    labels = torch.tensor([3], device="cuda")
    edges = [round(i * clip_bytes / pieces) for i in range(pieces + 1)]
    rows, logits = [], {}
    for backend in backends:
        model.config.ssm_backend = backend
        with torch.no_grad():
            logits[backend] = model(ids).logits.float().cpu()

        def whole():
            model(ids, labels=labels).loss.backward()

        def carried():
            cache = None
            for start, end in zip(edges, edges[1:]):
                out = model(ids[:, start:end], labels=labels, cache=cache, use_cache=True)
                (out.loss / pieces).backward()
                cache = out.cache.detach()

        for name, fn in (("one piece", whole), (f"{pieces} carried pieces", carried)):
            row = {"bytes": clip_bytes, "backend": backend, "pieces": name, "backward": cell(fn, repeats)}
            rows.append(row)
            print(f"bytes-tiny {clip_bytes:,} B {backend:>9} {name}: fwd+bwd {row['backward']}", flush=True)
    reference = next(iter(logits.values()))
    diffs = {backend: float((value - reference).abs().max()) for backend, value in logits.items()}
    return rows, diffs


def goal_ratios(layer):
    """Each stateful row's time over mamba-ssm's stateless row of the same length and direction."""
    base = {(r["length"], key): r[key]["median_s"] for r in layer
            if r["backend"] == "mamba_ssm" and not r["stateful"] for key in ("forward", "backward")
            if r[key]["status"] == "ok"}
    ratios = []
    for row in layer:
        if not row["stateful"]:
            continue
        for key in ("forward", "backward"):
            reference = base.get((row["length"], key))
            if reference and row[key]["status"] == "ok":
                ratios.append({"length": row["length"], "backend": row["backend"], "direction": key,
                               "ratio": row[key]["median_s"] / reference})
    return ratios


def markdown(result) -> str:
    def show(c):
        return f"{c['median_s'] * 1e3:,.1f} ms / {c['peak_mb']:,.0f} MB" if c["status"] == "ok" else c["status"]

    lines = [
        "# bytevid-hf on CUDA", "",
        f"Command: `{result['command']}` · GPU: {result['gpu']} · torch {result['torch']} · available: "
        + ", ".join(f"{b} {'yes' if ok else 'no'}" for b, ok in result["available"].items()), "",
        "Time (median) / peak `torch.cuda.max_memory_allocated`. Backends (`config.ssm_backend`): "
        + "; ".join(f"`{b}` = {LABELS[b]}" for b in BACKENDS)
        + f". Torch scan chunk on CUDA: {result['scan_chunk_size']}; Mamba layers run in blocks of "
        f"{result['mixer_block_size']:,} positions; forward+backward in training mode, activation checkpointing "
        f"{'on' if result['activation_checkpointing'] else 'off'}.", "",
        "| one layer (D=256, E=512, N=16) | backend | state | forward | forward+backward |", "|---|---|---|---|---|",
    ]
    for row in result["layer"]:
        lines.append(f"| {row['length']:,} positions | {row['backend']} | "
                     f"{'initial in, final out' if row['stateful'] else 'none'} | {show(row['forward'])} | "
                     f"{show(row['backward'])} |")
    lines += ["", "| bytes-tiny forward+backward | backend | pieces | time / peak |", "|---|---|---|---|"]
    for row in result["model"]:
        lines.append(f"| {row['bytes']:,} bytes | {row['backend']} | {row['pieces']} | {show(row['backward'])} |")
    if result["goal"]:
        lines += ["", f"Stateful rows over mamba-ssm's stateless kernel (goal ≤ {GOAL}×): "
                  + ", ".join(f"{g['backend']} {g['direction']} L={g['length']:,}: {g['ratio']:.2f}×"
                              for g in result["goal"])]
    lines += ["", "bytes-tiny logits, max abs difference to the first backend: "
              + ", ".join(f"{b} {d:.2e}" for b, d in result["logit_max_abs_diff"].items())]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/cuda")
    parser.add_argument("--lengths", type=int, nargs="+", default=[16384, 262144])
    parser.add_argument("--clip-bytes", type=int, default=262144)
    parser.add_argument("--pieces", type=int, default=4, help="sub-sequences of the bytes-tiny row (state carried)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--scan-chunk-size", type=int, default=None,
                        help="positions the torch scan solves at once on the GPU: sets "
                             "bytevid_hf.modeling.scan.TORCH_SCAN_CHUNK_SIZE['cuda'] (default: the package's, "
                             f"{torch_scan_chunk_size('cuda')})")
    parser.add_argument("--activation-checkpointing", action="store_true",
                        help="forward+backward with activation checkpointing (model.activation_checkpointing_enable())")
    args = parser.parse_args(argv)
    if args.scan_chunk_size is not None and args.scan_chunk_size < 1:
        parser.error(f"--scan-chunk-size must be a positive number of positions, got {args.scan_chunk_size}")
    if args.pieces < 1:
        parser.error(f"--pieces must be >= 1, got {args.pieces}")
    if not torch.cuda.is_available():
        raise SystemExit("bench_cuda.py needs a CUDA GPU (torch.cuda.is_available() is False)")
    if args.scan_chunk_size is not None:
        TORCH_SCAN_CHUNK_SIZE["cuda"] = args.scan_chunk_size
    available = {b: bool(SCAN_BACKENDS[b].available()) for b in BACKENDS}
    backends = [b for b in args.backends if available[b]]
    result = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "python": platform.python_version(),
              "available": available, "command": "python scripts/bench_cuda.py " + " ".join(argv or sys.argv[1:]),
              "scan_chunk_size": torch_scan_chunk_size("cuda"),
              "mixer_block_size": BytesVideoConfig.from_preset("bytes-tiny").mixer_block_size,
              "activation_checkpointing": args.activation_checkpointing}
    result["layer"] = layer_rows(args.lengths, backends, args.repeats, args.activation_checkpointing)
    result["model"], result["logit_max_abs_diff"] = model_rows(
        args.clip_bytes, args.pieces, backends, args.repeats, args.activation_checkpointing)
    result["goal"] = goal_ratios(result["layer"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cuda.json").write_text(json.dumps(result, indent=2))
    (out / "cuda.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
