#!/usr/bin/env python
"""Prepare an augmented video dataset offline: ``bytevid prepare-data`` (:mod:`bytevid_hf.cli.prepare_data`, where
the options and examples are described; ``--help`` prints them)."""

import os
import sys

# Before `import torch` (via bytevid_hf): idle OpenMP threads should not spin on the shared cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bytevid_hf.cli.prepare_data import ONE_LINE_ERRORS, build_parser, main  # noqa: E402,F401

if __name__ == "__main__":
    try:
        main(sys.argv[1:], prog=os.path.basename(sys.argv[0]))
    except ONE_LINE_ERRORS as e:  # clear one-line errors, no traceback
        print(f"{os.path.basename(sys.argv[0])}: error: {e}", file=sys.stderr)
        sys.exit(1)
