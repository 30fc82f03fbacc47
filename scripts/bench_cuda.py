#!/usr/bin/env python
"""GPU timings: mamba-ssm's fused kernels vs this package's torch scan on CUDA, one layer and bytes-tiny.

    python scripts/bench_cuda.py [--out benchmarks/results/cuda] [--lengths 16384 65536 262144] [--stream-bytes N]

Needs a CUDA GPU; the mamba-ssm rows need ``pip install 'bytevid-hf[cuda]'`` (they are marked unavailable
otherwise). Each cell: one warm-up call, then the median of ``--repeats`` calls timed with ``torch.cuda.synchronize``
around ``time.perf_counter``; peak memory is ``torch.cuda.max_memory_allocated`` for that call. Also checks that both
backends give the same bytes-tiny logits. Writes ``cuda.json`` and ``cuda.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification
from bytevid_hf.modeling import BytesVideoMambaMixer
from bytevid_hf.modeling.scan import cuda_backend_available


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


def layer_rows(lengths, backends, repeats, scan_chunk_size):
    config = BytesVideoConfig.from_preset("bytes-tiny", scan_chunk_size=scan_chunk_size)
    rows = []
    for length in lengths:
        for backend in backends:
            config.ssm_backend = backend
            torch.manual_seed(0)
            mixer = BytesVideoMambaMixer(config, 256).cuda()
            mixer.init_mamba_weights(1)
            x = torch.randn(1, length, 256, device="cuda")
            with torch.no_grad():
                fwd = run_cell(lambda: mixer(x), repeats)
            xg = x.clone().requires_grad_(True)
            bwd = run_cell(lambda: mixer(xg)[0].sum().backward(), repeats)
            rows.append({"length": length, "backend": backend, "forward": fwd, "backward": bwd})
            print(f"layer L={length:>7} {backend:>5}: fwd {fwd} | fwd+bwd {bwd}", flush=True)
    return rows


def model_rows(clip_bytes, backends, repeats, scan_chunk_size):
    torch.manual_seed(0)
    config = BytesVideoConfig.from_preset("bytes-tiny", num_labels=400, scan_chunk_size=scan_chunk_size)
    model = BytesVideoForClassification(config).cuda()
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
        print(f"bytes-tiny {clip_bytes:,} B {backend:>5}: fwd {fwd} | fwd+bwd {bwd}", flush=True)
    diff = None
    if len(logits) == 2:
        diff = float((logits["cuda"] - logits["torch"]).abs().max())
        print(f"max |logits(cuda) - logits(torch)| = {diff:.3e}")
    return rows, diff, model


def stream_row(model, total, chunk):
    model.config.ssm_backend = "auto"
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
           "finite": bool(torch.isfinite(out.logits).all())}
    print(f"stream {total:,} B: {row}", flush=True)
    return row


def markdown(result) -> str:
    def cell(c):
        return f"{c['median_s'] * 1e3:,.1f} ms / {c['peak_mb']:,.0f} MB" if c["status"] == "ok" else c["status"]

    lines = [
        "# bytevid-hf on CUDA",
        "",
        f"Command: `python scripts/bench_cuda.py` · GPU: {result['gpu']} · torch {result['torch']} · "
        f"mamba-ssm kernels available: {result['mamba_ssm']}",
        "",
        "Time (median) / peak `torch.cuda.max_memory_allocated`. `cuda` = mamba-ssm + causal-conv1d fused kernels, "
        f"`torch` = this package's chunked torch scan on the GPU (scan_chunk_size {result['scan_chunk_size']}).",
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
        lines += ["", f"`model.stream` over {s['bytes']:,} bytes (chunks of {s['chunk_size']:,}; carried state, so the "
                  f"torch scan): {s['seconds']:.1f} s, peak {s['peak_mb']:,.0f} MB, logits finite: {s['finite']}."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/cuda")
    parser.add_argument("--lengths", type=int, nargs="+", default=[16384, 65536, 262144])
    parser.add_argument("--clip-bytes", type=int, default=262144)
    parser.add_argument("--stream-bytes", type=int, default=4_000_000, help="0 skips the streaming row")
    parser.add_argument("--stream-chunk", type=int, default=1 << 20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scan-chunk-size", type=int, default=1024,
                        help="config.scan_chunk_size for the torch scan on the GPU (64, the CPU default, is launch-bound)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("bench_cuda.py needs a CUDA GPU")
    backends = ["cuda", "torch"] if cuda_backend_available() else ["torch"]
    result = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "python": platform.python_version(),
              "mamba_ssm": cuda_backend_available()}
    result["scan_chunk_size"] = args.scan_chunk_size
    result["layer"] = layer_rows(args.lengths, backends, args.repeats, args.scan_chunk_size)
    result["model"], result["logit_max_abs_diff"], model = model_rows(
        args.clip_bytes, backends, args.repeats, args.scan_chunk_size
    )
    result["stream"] = stream_row(model, args.stream_bytes, args.stream_chunk) if args.stream_bytes else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cuda.json").write_text(json.dumps(result, indent=2))
    (out / "cuda.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
