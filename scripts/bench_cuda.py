#!/usr/bin/env python
"""GPU timings: mamba-ssm's fused selective scan vs this package's torch scan on CUDA, one layer and bytes-tiny.

    python scripts/bench_cuda.py [--out benchmarks/results/cuda] [--lengths 16384 65536 262144] [--stream-bytes N]
                                 [--scan-chunk-size N] [--activation-checkpointing]

The two backends are chosen with ``config.ssm_backend`` (``"mamba_ssm"`` and ``"torch"``). Needs a CUDA GPU; the
mamba_ssm rows need ``pip install 'bytevid-hf[cuda]'`` (only the torch rows run otherwise). Each cell: one warm-up
call, then the median of ``--repeats`` calls timed with ``torch.cuda.synchronize`` around ``time.perf_counter``; peak
memory is ``torch.cuda.max_memory_allocated`` for that call. Forward+backward runs in training mode, with activation
checkpointing (``model.activation_checkpointing_enable()``; the lone mixer's ``gradient_checkpointing`` flag) only
with ``--activation-checkpointing``, for both backends alike. Also checks that both backends give the same bytes-tiny
logits. Writes ``cuda.json`` and ``cuda.md`` under ``--out``.
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
from bytevid_hf.modeling import BytesVideoMambaMixer
from bytevid_hf.modeling import scan
from bytevid_hf.modeling.scan import SCAN_BACKENDS, TORCH_SCAN_CHUNK_SIZE, resolve_scan_backend, torch_scan_chunk_size

BACKEND_LABELS = {
    "mamba_ssm": "mamba-ssm's fused selective-scan CUDA kernel",
    "torch": "this package's chunked torch scan on the GPU",
}


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
    return {"median_s": statistics.median(times), "peak_mb": max(peaks)}


def run_cell(fn, repeats):
    try:
        return dict(timed(fn, repeats), status="ok")
    except torch.OutOfMemoryError as exc:
        torch.cuda.empty_cache()
        return {"status": "out_of_memory", "reason": str(exc).splitlines()[0]}


def layer_rows(lengths, backends, repeats, checkpointing):
    config = BytesVideoConfig.from_preset("bytes-tiny")
    rows = []
    for length in lengths:
        for backend in backends:
            config.ssm_backend = backend
            torch.manual_seed(0)
            mixer = BytesVideoMambaMixer(config, 256).cuda().train()
            mixer.gradient_checkpointing = checkpointing  # the flag activation_checkpointing_enable() sets on layers
            mixer.init_mamba_weights(1)
            x = torch.randn(1, length, 256, device="cuda")
            with torch.no_grad():
                fwd = run_cell(lambda: mixer(x), repeats)
            xg = x.clone().requires_grad_(True)
            bwd = run_cell(lambda: mixer(xg)[0].sum().backward(), repeats)
            rows.append({"length": length, "backend": backend, "forward": fwd, "backward": bwd})
            print(f"layer L={length:>7} {backend:>9}: fwd {fwd} | fwd+bwd {bwd}", flush=True)
    return rows


def model_rows(clip_bytes, backends, repeats, checkpointing):
    torch.manual_seed(0)
    config = BytesVideoConfig.from_preset("bytes-tiny", num_labels=400)
    model = BytesVideoForClassification(config).cuda().train()
    if checkpointing:
        model.activation_checkpointing_enable()
    ids = torch.randint(0, 256, (1, clip_bytes), dtype=torch.uint8, device="cuda")
    labels = torch.tensor([3], device="cuda")
    rows, logits = [], {}
    for backend in backends:
        model.config.ssm_backend = backend
        with torch.no_grad():
            logits[backend] = model(ids).logits.float().cpu()
            fwd = run_cell(lambda: model(ids), repeats)
        bwd = run_cell(lambda: model(ids, labels=labels).loss.backward(), repeats)
        rows.append({"bytes": clip_bytes, "backend": backend, "forward": fwd, "backward": bwd})
        print(f"bytes-tiny {clip_bytes:,} B {backend:>9}: fwd {fwd} | fwd+bwd {bwd}", flush=True)
    diff = None
    if len(logits) == 2:
        diff = float((logits["mamba_ssm"] - logits["torch"]).abs().max())
        print(f"max |logits(mamba_ssm) - logits(torch)| = {diff:.3e}")
    return rows, diff, model


def stream_row(model, total, chunk):
    model.config.ssm_backend = "auto"
    model.eval()
    generator = torch.Generator().manual_seed(1)

    def chunks():
        left = total
        while left > 0:
            n = min(chunk, left)
            yield torch.randint(0, 256, (n,), dtype=torch.uint8, generator=generator).numpy()
            left -= n

    torch.cuda.reset_peak_memory_stats()
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = model.stream(chunks(), chunk_size=chunk, progress=False)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    row = {"bytes": total, "chunk_size": chunk, "seconds": seconds, "peak_mb": torch.cuda.max_memory_allocated() / 2**20,
           "finite": bool(torch.isfinite(out.logits).all()), "backend": resolve_scan_backend("auto", "cuda")}
    print(f"stream {total:,} B: {row}", flush=True)
    return row


def markdown(result) -> str:
    def cell(c):
        return f"{c['median_s'] * 1e3:,.1f} ms / {c['peak_mb']:,.0f} MB" if c["status"] == "ok" else c["status"]

    lines = [
        "# bytevid-hf on CUDA",
        "",
        f"Command: `{result['command']}` · GPU: {result['gpu']} · torch {result['torch']} · "
        f"mamba-ssm kernel available: {result['mamba_ssm']}",
        "",
        "Time (median) / peak `torch.cuda.max_memory_allocated`. Backend = `config.ssm_backend`: `mamba_ssm` = "
        f"{BACKEND_LABELS['mamba_ssm']}, `torch` = {BACKEND_LABELS['torch']} (`TORCH_SCAN_CHUNK_SIZE['cuda']` = "
        f"{result['scan_chunk_size']}). Mamba layers run in blocks of `config.mixer_block_size` = "
        f"{result['mixer_block_size']:,} positions; forward+backward in training mode, activation checkpointing "
        f"{'on' if result['activation_checkpointing'] else 'off'} for both backends.",
        "",
        "| what | input | backend | forward | forward+backward |",
        "|---|---|---|---|---|",
    ]
    for row in result["layer"]:
        lines.append(f"| one layer (D=256, E=512, N=16) | {row['length']:,} | {row['backend']} | "
                     f"{cell(row['forward'])} | {cell(row['backward'])} |")
    for row in result["model"]:
        lines.append(f"| bytes-tiny | {row['bytes']:,} bytes | {row['backend']} | {cell(row['forward'])} | "
                     f"{cell(row['backward'])} |")
    if result["logit_max_abs_diff"] is not None:
        lines += ["", f"bytes-tiny logits, mamba-ssm vs torch scan: max abs difference {result['logit_max_abs_diff']:.2e}."]
    if result.get("stream"):
        s = result["stream"]
        lines += ["", f"`model.stream` over {s['bytes']:,} bytes (chunks of {s['chunk_size']:,}, carried state; "
                  f"`ssm_backend=\"auto\"` ran `{s['backend']}`): {s['seconds']:.1f} s, peak {s['peak_mb']:,.0f} MB, "
                  f"logits finite: {s['finite']}."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/cuda")
    parser.add_argument("--lengths", type=int, nargs="+", default=[16384, 65536, 262144])
    parser.add_argument("--clip-bytes", type=int, default=262144)
    parser.add_argument("--stream-bytes", type=int, default=4_000_000, help="0 skips the streaming row")
    parser.add_argument("--stream-chunk", type=int, default=1 << 20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scan-chunk-size", type=int, default=None,
                        help="positions the torch scan solves at once on the GPU: sets "
                             "bytevid_hf.modeling.scan.TORCH_SCAN_CHUNK_SIZE['cuda'] (default: the package's, "
                             f"{torch_scan_chunk_size('cuda')})")
    parser.add_argument("--activation-checkpointing", action="store_true",
                        help="forward+backward with activation checkpointing (model.activation_checkpointing_enable()) "
                             "for both backends; default off")
    args = parser.parse_args(argv)
    if args.scan_chunk_size is not None and args.scan_chunk_size < 1:
        parser.error(f"--scan-chunk-size must be a positive number of positions, got {args.scan_chunk_size}")
    if not torch.cuda.is_available():
        raise SystemExit("bench_cuda.py needs a CUDA GPU (torch.cuda.is_available() is False)")
    if args.scan_chunk_size is not None:
        TORCH_SCAN_CHUNK_SIZE["cuda"] = args.scan_chunk_size
    mamba_ssm = SCAN_BACKENDS["mamba_ssm"].available()
    backends = ["mamba_ssm", "torch"] if mamba_ssm else ["torch"]
    result = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "python": platform.python_version(),
              "mamba_ssm": mamba_ssm, "command": "python scripts/bench_cuda.py " + " ".join(argv or sys.argv[1:]),
              "scan_chunk_size": torch_scan_chunk_size("cuda"),
              "mixer_block_size": BytesVideoConfig.from_preset("bytes-tiny").mixer_block_size,
              "activation_checkpointing": args.activation_checkpointing}
    result["layer"] = layer_rows(args.lengths, backends, args.repeats, args.activation_checkpointing)
    result["model"], result["logit_max_abs_diff"], model = model_rows(
        args.clip_bytes, backends, args.repeats, args.activation_checkpointing
    )
    result["stream"] = stream_row(model, args.stream_bytes, args.stream_chunk) if args.stream_bytes else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cuda.json").write_text(json.dumps(result, indent=2))
    (out / "cuda.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
