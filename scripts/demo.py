#!/usr/bin/env python
"""The bytevid_hf demo -- learn to classify real H.264 mp4s from their encoded bytes on a CPU in ~10 minutes:
``bytevid demo`` (:mod:`bytevid_hf.cli.demo`, where the steps and options are described; ``--help`` prints them)."""

import os
import sys

# Must precede the first `import torch`: with OpenMP's default (spinning) wait policy, idle threads burn the cores at
# every barrier and this many-small-ops workload slows down dramatically whenever another process shares the CPU.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bytevid_hf.cli.demo import main, parse_args  # noqa: E402,F401

if __name__ == "__main__":
    main(sys.argv[1:], prog=os.path.basename(sys.argv[0]))
