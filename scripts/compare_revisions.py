#!/usr/bin/env python
"""Is the working tree slower than an earlier commit? Times the same workloads for both, interleaved, on this machine.

    python scripts/compare_revisions.py --base c21d493            # base commit vs the working tree
    python scripts/compare_revisions.py --base HEAD~3 --rounds 5 --out benchmarks/results/revisions

The base commit is checked out with ``git worktree`` into a temporary folder and laid out as an importable
``bytevid_hf`` package (``modeling/`` and ``processing/`` copied under it, as the install maps them); each measurement
runs in a fresh process (``PYTHONPATH`` selects the base; the working tree is the installed package). Rounds alternate
base / current, so load from other processes hits both alike, and each cell reports the minimum over rounds (the
least disturbed run) and the ratio current / base. Workloads:

* ``layer-forward`` / ``layer-train``: one Mamba mixer (hidden 256, expand 2, state 16, batch 1, fp32) at each
  ``--lengths`` L: forward under no_grad, and forward+backward in training mode with the mixer's blockwise
  checkpointing on (unconditional in commits before it became opt-in, switched on here for later ones);
* ``stream``: ``model.stream`` of random bytes with bytes-micro (``--stream-bytes``) and bytes-tiny
  (``--tiny-stream-bytes``), 8,192-byte chunks.

Results go to ``--out`` as ``comparison.json`` and ``comparison.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

WORKER = r'''
import json, os, sys, time
import torch
kind, size, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(int(os.environ.get("COMPARE_THREADS", "2")))
torch.manual_seed(0)
from bytevid_hf import BytesVideoConfig

def best(fn):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter(); fn(); times.append(time.perf_counter() - start)
    return min(times)

if kind.startswith("layer"):
    from bytevid_hf.modeling.mamba import BytesVideoMambaMixer
    mixer = BytesVideoMambaMixer(BytesVideoConfig(hidden_size=256, num_levels=1, layers_per_level=1), 256)
    mixer.init_mamba_weights(1)
    x = torch.randn(1, size, 256)
    if kind == "layer-forward":
        def run():
            with torch.no_grad():
                mixer(x)
    else:
        mixer.train()
        mixer.gradient_checkpointing = True  # a plain attribute before it was a switch: harmless there
        def run():
            xi = x.clone().requires_grad_()
            mixer(xi)[0].sum().backward()
else:
    from bytevid_hf import BytesVideoForClassification
    preset = "bytes-tiny" if kind == "stream-tiny" else "bytes-micro"
    model = BytesVideoForClassification(BytesVideoConfig.from_preset(preset, num_labels=3)).eval()
    data = torch.randint(0, 256, (size,), dtype=torch.uint8)
    def run():
        model.stream(data, chunk_size=8192, progress=False)
print("RESULT:" + json.dumps({"seconds": best(run)}))
'''


def base_package(base: str, workdir: Path) -> Path:
    """``workdir/pkg``: the base commit as an importable bytevid_hf package."""
    tree = workdir / "tree"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), base], check=True,
                   capture_output=True, text=True)
    package = workdir / "pkg" / "bytevid_hf"
    shutil.copytree(tree / "bytevid_hf", package)
    for folder in ("modeling", "processing", "model_cards"):
        if (tree / folder).is_dir():
            shutil.copytree(tree / folder, package / folder)
    return workdir / "pkg"


def measure(kind: str, size: int, repeats: int, pythonpath: Path | None, timeout: float) -> float | None:
    env = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    else:
        env.pop("PYTHONPATH", None)
    try:
        proc = subprocess.run([sys.executable, "-c", WORKER, kind, str(size), str(repeats)], env=env, cwd="/",
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT:")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{kind} {size} ({'base' if pythonpath else 'current'}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][7:])["seconds"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the earlier commit (any git revision)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating base/current rounds per cell")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls per process (after one warm-up)")
    parser.add_argument("--lengths", default="16384,65536", help="layer lengths, comma-separated")
    parser.add_argument("--stream-bytes", type=int, default=1_000_000, help="bytes-micro stream length")
    parser.add_argument("--tiny-stream-bytes", type=int, default=65_536, help="bytes-tiny stream length (0: skip)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per measurement")
    parser.add_argument("--out", default=None, help="folder for comparison.json / comparison.md")
    args = parser.parse_args(argv)
    cells = [(kind, int(length)) for length in args.lengths.split(",") for kind in ("layer-forward", "layer-train")]
    cells.append(("stream-micro", args.stream_bytes))
    if args.tiny_stream_bytes:
        cells.append(("stream-tiny", args.tiny_stream_bytes))
    base_commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", args.base], check=True,
                                 capture_output=True, text=True).stdout.strip()
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bytevid-compare-") as tmp:
        workdir = Path(tmp)
        try:
            base_path = base_package(args.base, workdir)
            rows = []
            for kind, size in cells:
                times = {"base": [], "current": []}
                for _ in range(args.rounds):
                    for which, path in (("base", base_path), ("current", None)):
                        value = measure(kind, size, args.repeats, path, args.timeout)
                        if value is not None:
                            times[which].append(value)
                best = {k: (min(v) if v else None) for k, v in times.items()}
                ratio = best["current"] / best["base"] if best["base"] and best["current"] else None
                rows.append({"workload": kind, "size": size, "base_s": best["base"], "current_s": best["current"],
                             "ratio": ratio, "all": times})
                print(f"{kind:14s} {size:>10,}  base {best['base']:.3f} s  current {best['current']:.3f} s  "
                      f"current/base {ratio:.3f}", flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(workdir / "tree")],
                           capture_output=True)
    result = {"base": base_commit, "current": f"{head} + working tree", "rounds": args.rounds,
              "repeats": args.repeats, "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "load_average": os.getloadavg(), "minutes": (time.time() - started) / 60, "rows": rows}
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "comparison.json").write_text(json.dumps(result, indent=2) + "\n")
        lines = [f"# {result['current']} vs {base_commit}", "",
                 f"`python scripts/compare_revisions.py --base {args.base} --rounds {args.rounds} --repeats "
                 f"{args.repeats} --lengths {args.lengths}`; minimum over {args.rounds} alternating rounds of fresh "
                 f"processes, {result['machine']}, load average at the end {result['load_average'][0]:.2f}.", "",
                 "| workload | size | base [s] | current [s] | current / base |", "| --- | --- | --- | --- | --- |"]
        for row in rows:
            lines.append(f"| {row['workload']} | {row['size']:,} | {row['base_s']:.3f} | {row['current_s']:.3f} | "
                         f"{row['ratio']:.3f} |")
        (out / "comparison.md").write_text("\n".join(lines) + "\n")
        print(f"wrote {out / 'comparison.md'}")


if __name__ == "__main__":
    main()
