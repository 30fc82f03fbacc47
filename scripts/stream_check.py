#!/usr/bin/env python
"""Classify one very long input with ``model.stream`` and report time and peak memory (constant-memory check).

    python scripts/stream_check.py --bytes 15000000 --preset bytes-tiny     # ~10 minutes of canonical video

The input is random bytes generated chunk by chunk (never held in memory); the model is randomly initialised. Prints
one JSON line with bytes, seconds, µs/byte, peak RSS (``ru_maxrss``), RSS after building the model and the scan backend
that ran (``config.ssm_backend="auto"`` resolved on this device), and writes it to ``--out`` when given.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: no spinning threads on a shared machine

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification  # noqa: E402
from bytevid_hf.modeling.scan import resolve_scan_backend  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bytes", type=int, default=15_000_000)
    parser.add_argument("--preset", default="bytes-tiny")
    parser.add_argument("--num-labels", type=int, default=400)
    parser.add_argument("--chunk-size", type=int, default=None, help="default: config.streaming_chunk_size")
    parser.add_argument("--out", default=None, help="also write the JSON result to this file")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = BytesVideoForClassification(BytesVideoConfig.from_preset(args.preset, num_labels=args.num_labels)).eval()
    chunk = args.chunk_size or model.config.streaming_chunk_size
    built = peak_rss_mb()
    generator = torch.Generator().manual_seed(1)

    def source():
        left = args.bytes
        while left > 0:
            n = min(chunk, left)
            yield torch.randint(0, 256, (n,), generator=generator, dtype=torch.uint8).numpy()
            left -= n

    start = time.perf_counter()
    out = model.stream(source(), chunk_size=chunk, progress=True)
    seconds = time.perf_counter() - start
    result = {"preset": args.preset, "bytes": args.bytes, "chunk_size": chunk, "seconds": round(seconds, 1),
              "us_per_byte": round(seconds / args.bytes * 1e6, 1), "peak_rss_mb": round(peak_rss_mb()),
              "rss_after_build_mb": round(built), "logits_finite": bool(torch.isfinite(out.logits).all()),
              "torch_threads": torch.get_num_threads(),
              "scan_backend": resolve_scan_backend(model.config.ssm_backend, model.device.type), "command": "python scripts/stream_check.py "
              + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None and k != "out")}
    print(json.dumps(result))
    if args.out:
        with open(args.out, "w") as f:
            f.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
