#!/usr/bin/env python
"""Benchmark bytevid-hf against transformers' baselines, side by side, in one run (CPU): ``bytevid benchmark``
(:mod:`bytevid_hf.experiments.benchmark`, where the sections and options are described; ``--help`` prints them).
Run from here, the results go to the repository's benchmarks/results/ by default."""

import sys
from pathlib import Path

from bytevid_hf.experiments.benchmark import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="python scripts/benchmark.py",
                  default_out=Path(__file__).resolve().parent.parent / "benchmarks" / "results"))
