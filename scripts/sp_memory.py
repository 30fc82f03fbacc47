#!/usr/bin/env python
"""Per-rank peak memory of one optimizer step: one process vs sequence parallelism over R gloo ranks (CPU).

    python scripts/sp_memory.py --bytes 2000000                    # 1 process, then 2 ranks under torchrun
    python scripts/sp_memory.py --bytes 8000000 --ranks 2 4 --out benchmarks/results/sp_memory

One optimizer step = forward + backward + ``torch.optim.Adam.step`` of ``BytesVideoForClassification`` (``--preset``,
default bytes-micro) on one random "video" of ``--bytes`` bytes, in training mode with activation checkpointing on
(``model.activation_checkpointing_enable()``: every Mamba layer keeps only its blocks' inputs and states and recomputes
them in backward — on every rank, for both passes of the sequence-parallel layer). Every configuration runs in fresh
processes; each reports its own peak RSS (``ru_maxrss``, imports and model included) and the RSS after imports and
model construction (``base``). With R ranks the per-rank peak is the largest over the ranks. Workers run with
``MALLOC_MMAP_THRESHOLD_=131072`` (``--mmap-threshold``): glibc then returns freed blocks above 128 KiB to the OS, so the
peak is live memory, not heap retention (with 1 MiB the sub-MiB per-block temporaries fragment the heap and hide the
difference). Results: ``--out`` gets
``sp_memory.json`` and ``sp_memory.md`` (ratio of the per-rank peak to the one-process peak).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: no spinning threads on a shared machine

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def step(preset: str, length: int) -> None:
    """One optimizer step in this process (a torchrun rank when WORLD_SIZE > 1); prints one RESULT line per rank."""
    import resource

    import torch
    import torch.distributed as dist

    from bytevid_hf import BytesVideoConfig, BytesVideoForClassification
    from bytevid_hf.parallel import average_sequence_parallel_gradients, enable_sequence_parallel

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        dist.init_process_group("gloo")
    torch.manual_seed(0)
    model = BytesVideoForClassification(BytesVideoConfig.from_preset(preset, num_labels=2)).train()
    model.activation_checkpointing_enable()
    if world > 1:
        model = enable_sequence_parallel(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    ids = torch.randint(0, 256, (1, length), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    base = _rss_mb()
    start = time.perf_counter()
    loss = model(ids, labels=torch.tensor([1])).loss
    loss.backward()
    if world > 1:
        average_sequence_parallel_gradients(model)
    optimizer.step()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB
    rank = dist.get_rank() if world > 1 else 0
    print("RESULT:" + json.dumps({"rank": rank, "world": world, "peak_mb": peak, "base_mb": base,
                                  "seconds": seconds, "loss": float(loss)}), flush=True)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


def run(preset: str, length: int, ranks: int, threads: int, timeout: float, mmap_threshold: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MALLOC_MMAP_THRESHOLD_=str(mmap_threshold))
    worker = [str(Path(__file__).resolve()), "--worker", "--preset", preset, "--bytes", str(length)]
    if ranks == 1:
        cmd = [sys.executable, *worker]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}", *worker]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    results = [json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT:")]
    if proc.returncode != 0 or len(results) != ranks:
        raise RuntimeError(f"{ranks} rank(s) on {length:,} bytes failed (exit {proc.returncode}):\n"
                           f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return {"ranks": ranks, "per_rank_peak_mb": max(r["peak_mb"] for r in results),
            "per_rank_base_mb": max(r["base_mb"] for r in results), "step_seconds": max(r["seconds"] for r in results),
            "wall_seconds": time.perf_counter() - started, "loss": results[0]["loss"], "ranks_detail": results}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bytes", type=int, default=2_000_000, help="length of the random video")
    parser.add_argument("--preset", default="bytes-micro")
    parser.add_argument("--ranks", type=int, nargs="+", default=[2], help="rank counts to compare with 1 process")
    parser.add_argument("--threads", type=int, default=1, help="OMP threads per process (1: ranks do not compete)")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--mmap-threshold", type=int, default=131072,
                        help="MALLOC_MMAP_THRESHOLD_ of the workers (glibc): allocations above it are returned to the OS "
                             "when freed, so peak RSS measures live memory rather than heap retention; the Mamba "
                             "layers' per-block temporaries are below 1 MiB, so the default is 128 KiB")
    parser.add_argument("--out", default=None, help="folder for sp_memory.json / sp_memory.md")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return step(args.preset, args.bytes)
    rows = []
    for ranks in [1, *args.ranks]:
        row = run(args.preset, args.bytes, ranks, args.threads, args.timeout, args.mmap_threshold)
        rows.append(row)
        ratio = row["per_rank_peak_mb"] / rows[0]["per_rank_peak_mb"]
        print(f"{ranks} rank(s): per-rank peak {row['per_rank_peak_mb'] / 1024:.2f} GB (base "
              f"{row['per_rank_base_mb'] / 1024:.2f} GB), step {row['step_seconds']:.0f} s, loss {row['loss']:.6f}, "
              f"per-rank peak / 1-process peak = {ratio:.2f}", flush=True)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        result = {"preset": args.preset, "bytes": args.bytes, "threads": args.threads, "rows": rows,
                  "command": "python scripts/sp_memory.py " + " ".join(argv if argv is not None else sys.argv[1:])}
        (out / "sp_memory.json").write_text(json.dumps(result, indent=2) + "\n")
        lines = [f"# One optimizer step of {args.preset} on {args.bytes:,} bytes: per-rank peak RSS", "",
                 f"`{result['command']}` (activation checkpointing on, {args.threads} thread(s) per process, "
                 f"`MALLOC_MMAP_THRESHOLD_={args.mmap_threshold}`)", "",
                 "| processes | per-rank peak RSS | after imports + model | step time | loss | per-rank peak / 1 process |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for row in rows:
            lines.append(f"| {row['ranks']} | {row['per_rank_peak_mb'] / 1024:.2f} GB | "
                         f"{row['per_rank_base_mb'] / 1024:.2f} GB | {row['step_seconds']:.0f} s | {row['loss']:.6f} | "
                         f"{row['per_rank_peak_mb'] / rows[0]['per_rank_peak_mb']:.2f} |")
        (out / "sp_memory.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
