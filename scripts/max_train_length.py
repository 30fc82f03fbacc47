#!/usr/bin/env python
"""The longest video (in bytes) that one optimizer step can train inside a memory budget, per preset and number of
sub-sequences K (state carry, paper appendix A.2).

    python scripts/max_train_length.py --presets bytes-micro bytes-tiny --subsequences 1 8 --budget-gb 16

Memory model. With state carry only one piece of L/K bytes (and, under sequence parallelism with R ranks, only its
1/R shard) holds activations at a time; the K−1 others left just their detached layer states, O(B·E·N) each. So

    peak ≈ base (weights, gradients, Adam moments, allocator) + bytes_per_position × L / (K · R)

What has been measured of that: doubling K doubled the trainable length (×1.94, bytes-micro, this script), and with
R = 2 gloo ranks a rank holds 0.51 of the one-process activation memory (``scripts/sp_memory.py``, bytes-micro on 16M
and 19M bytes), so L_max(K, R) ≈ K · R · L_max(1, 1) holds for K = 2 and for R = 2 (minus alignment to
``pool_size ** num_levels`` per piece); beyond those it is an extrapolation, not a measurement.

This script measures L_max(K, 1) (one process; sequence-parallel memory is ``scripts/sp_memory.py``'s): every trial is
a fresh subprocess that builds the model, runs ONE optimizer step (K forward/backward passes with state carry via
``bytevid_hf.training.subsequence.train_with_state_carry``, then ``AdamW.step``) on random bytes and reports its peak
RSS; a watchdog ends a trial the moment its RSS passes the budget. The search fits the linear model to measured
trials, tries the predicted maximum, and backs off by 7% on failure, so every reported length is one that actually
trained inside the budget. Trials for K > 1 start from the K = 1 fit (activation memory does not depend on K).

The model trains with activation checkpointing on (``model.train(); model.activation_checkpointing_enable()``: every
Mamba layer keeps only the inputs and states of its blocks of ``config.mixer_block_size`` positions and recomputes
them in backward), as every earlier measurement did before checkpointing became opt-in.

Trials run with ``MALLOC_MMAP_THRESHOLD_=1048576`` (freed activations go back to the OS instead of staying in glibc's
heap; see README) unless ``--default-malloc``. Results: ``benchmarks/results/max_length/max_length.{json,md}``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: no spinning threads on a shared machine

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

OVER_BUDGET = 86  # exit status of a trial that the watchdog stopped
CHECKPOINTING = "training mode with activation checkpointing on (model.activation_checkpointing_enable())"


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_trial(preset: str, length: int, subsequences: int, budget_mb: float) -> dict:
    """One optimizer step in this process; prints a JSON line. Exits with OVER_BUDGET when RSS passes the budget."""
    import resource
    import threading

    import torch

    from bytevid_hf import BytesVideoConfig, BytesVideoForClassification
    from bytevid_hf.training.subsequence import train_with_state_carry

    peak = [0.0]

    def watchdog():
        while True:
            rss = _rss_mb()
            peak[0] = max(peak[0], rss)
            if rss > budget_mb:
                print(json.dumps({"ok": False, "reason": f"RSS {rss:.0f} MB > budget {budget_mb:.0f} MB"}), flush=True)
                os._exit(OVER_BUDGET)
            time.sleep(0.05)

    threading.Thread(target=watchdog, daemon=True).start()
    torch.manual_seed(0)
    model = BytesVideoForClassification(BytesVideoConfig.from_preset(preset, num_labels=400))
    model.train()
    model.activation_checkpointing_enable()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, 256, (1, length), dtype=torch.uint8)
    labels = torch.tensor([7])
    base = _rss_mb()
    start = time.perf_counter()
    loss = train_with_state_carry(model, ids, None, labels, subsequences)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    seconds = time.perf_counter() - start
    ok = bool(torch.isfinite(torch.tensor(loss))) and all(torch.isfinite(p).all() for p in model.parameters())
    result = {"ok": ok, "preset": preset, "length": length, "subsequences": subsequences, "seconds": round(seconds, 1),
              "peak_rss_mb": round(max(peak[0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)),
              "base_rss_mb": round(base), "loss": loss, "activation_checkpointing": model.is_activation_checkpointing}
    print(json.dumps(result), flush=True)
    return result


def trial(preset, length, k, budget_mb, env) -> dict:
    cmd = [sys.executable, __file__, "--trial", "--presets", preset, "--length", str(length), "--subsequences", str(k),
           "--budget-gb", str(budget_mb / 1024)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"ok": False, "reason": proc.stderr[-500:]}
    result.update(preset=preset, length=length, subsequences=k, budget_mb=budget_mb)
    if proc.returncode not in (0, OVER_BUDGET):
        result.update(ok=False, reason=f"exit {proc.returncode}: {proc.stderr[-300:]}")
    state = "ok " if result["ok"] else "OVER"
    print(f"  {state} {preset} K={k} L={length:>12,}  peak {result.get('peak_rss_mb', '-')} MB  "
          f"{result.get('seconds', '-')} s  {result.get('reason', '')}", flush=True)
    return result


def _fit(trials, k, fit):
    """(base_mb, mb_per_piece_byte) from the successful trials: two or more -> the slope between the shortest and
    the longest; one -> from its RSS before the step; none -> the fit passed in (earlier K of the preset)."""
    good = sorted((t for t in trials if t["ok"]), key=lambda t: t["length"])
    if len(good) >= 2 and good[-1]["length"] > good[0]["length"]:
        slope = (good[-1]["peak_rss_mb"] - good[0]["peak_rss_mb"]) / ((good[-1]["length"] - good[0]["length"]) / k)
    elif good and good[-1].get("base_rss_mb") is not None:
        slope = (good[-1]["peak_rss_mb"] - good[-1]["base_rss_mb"]) / (good[-1]["length"] / k)
    else:
        return fit
    slope = max(slope, 1e-9)
    return good[-1]["peak_rss_mb"] - slope * good[-1]["length"] / k, slope


def _next_length(trials, fit, k, align, budget_mb, probe_piece, tolerance):
    """The next length to try, or None when the longest success is within ``tolerance`` of the prediction (or the
    next try after a failure would not beat it)."""
    def floor(piece):
        return max(align, int(piece) // align * align) * k

    good = [t["length"] for t in trials if t["ok"]]
    bad = [t["length"] for t in trials if not t["ok"]]
    if not trials:
        return floor(probe_piece) if fit is None else floor((0.97 * budget_mb - fit[0]) / fit[1])
    if not trials[-1]["ok"]:
        length = floor(0.93 * trials[-1]["length"] / k)
        return None if good and length <= max(good) else length
    target = floor((0.97 * budget_mb - fit[0]) / fit[1])
    if bad:
        target = min(target, floor(0.97 * min(bad) / k))
    return None if target <= max(good) * (1 + tolerance) else target


def search(preset, k, budget_mb, env, align, fit, probe_piece, max_trials, prior=(), log=None, tolerance=0.05):
    """Longest L (multiple of align·K) with one optimizer step inside the budget. ``fit`` = (base_mb, mb_per_byte)
    per piece byte from earlier trials of this preset, or None; ``prior``: this (preset, K)'s trials from an earlier,
    interrupted run (the search continues from them)."""
    trials = list(prior)
    fit = _fit(trials, k, fit)
    length = _next_length(trials, fit, k, align, budget_mb, probe_piece, tolerance)
    while length is not None and len(trials) < max_trials:
        result = trial(preset, length, k, budget_mb, env)
        trials.append(result)
        if log is not None:
            with open(log, "a") as f:
                f.write(json.dumps(result) + "\n")
        fit = _fit(trials, k, fit)
        length = _next_length(trials, fit, k, align, budget_mb, probe_piece, tolerance)
    good = [t for t in trials if t["ok"]]
    return (max(good, key=lambda t: t["length"]) if good else None), trials, fit


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["bytes-micro", "bytes-tiny"])
    parser.add_argument("--subsequences", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--budget-gb", type=float, default=16.0)
    parser.add_argument("--probe-piece", type=int, default=None, help="first trial's piece length (default per preset)")
    parser.add_argument("--max-trials", type=int, default=5)
    parser.add_argument("--tolerance", type=float, default=0.05,
                        help="stop when the longest success is within this fraction of the predicted maximum")
    parser.add_argument("--default-malloc", action="store_true", help="do not set MALLOC_MMAP_THRESHOLD_")
    parser.add_argument("--out-dir", default="benchmarks/results/max_length")
    parser.add_argument("--trial", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    budget_mb = args.budget_gb * 1024
    if args.trial:
        run_trial(args.presets[0], args.length, args.subsequences[0], budget_mb)
        return

    from bytevid_hf import BytesVideoConfig

    env = dict(os.environ)
    if not args.default_malloc:
        env["MALLOC_MMAP_THRESHOLD_"] = "1048576"
    probes = {"bytes-micro": 1 << 20, "bytes-tiny": 1 << 16}
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "trials.jsonl"  # every finished trial; a rerun of the same command continues from them
    earlier = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []
    rows, all_trials = [], []
    print(f"every trial: {CHECKPOINTING}", flush=True)
    for preset in args.presets:
        config = BytesVideoConfig.from_preset(preset)
        align = config.pool_size**config.num_levels
        fit = None
        for k in sorted(args.subsequences):
            print(f"{preset}, K={k}:", flush=True)
            prior = [t for t in earlier if t["preset"] == preset and t["subsequences"] == k
                     and t.get("budget_mb", budget_mb) == budget_mb]
            best, trials, fit = search(preset, k, budget_mb, env, align, fit,
                                       args.probe_piece or probes.get(preset, 1 << 16), args.max_trials,
                                       prior=prior, log=log, tolerance=args.tolerance)
            all_trials += trials
            rows.append({"preset": preset, "subsequences": k, "longest_bytes": best and best["length"],
                         "peak_rss_mb": best and best["peak_rss_mb"], "seconds": best and best["seconds"],
                         "smallest_failed": min((t["length"] for t in trials if not t["ok"]), default=None)})
    meta = {"budget_gb": args.budget_gb, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "activation_checkpointing": CHECKPOINTING,
            "malloc_mmap_threshold": env.get("MALLOC_MMAP_THRESHOLD_"),
            "command": "python scripts/max_train_length.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    (out / "max_length.json").write_text(json.dumps({"meta": meta, "rows": rows, "trials": all_trials}, indent=2) + "\n")
    lines = [f"Longest video trained in one optimizer step within {args.budget_gb:g} GB RSS ({meta['machine']}; "
             f"`{meta['command']}`), {CHECKPOINTING}.", "",
             "| preset | sub-sequences K | longest length (bytes) | peak RSS | step time | smallest failed length |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        fmt = (lambda v: f"{v:,}" if v else "—")
        lines.append(f"| {r['preset']} | {r['subsequences']} | {fmt(r['longest_bytes'])} | "
                     f"{(r['peak_rss_mb'] or 0) / 1024:.1f} GB | {r['seconds'] or 0:.0f} s | "
                     f"{fmt(r['smallest_failed'])} |")
    (out / "max_length.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
