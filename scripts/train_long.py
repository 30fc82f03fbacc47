#!/usr/bin/env python
"""Train a bytevid classifier on long videos (sub-sequences with state carry, optionally sequence-parallel under
torchrun): ``bytevid train-long`` (:mod:`bytevid_hf.cli.train_long`, where the options and examples are described;
``--help`` prints them)."""

import os
import sys

# Before the first `import torch`: idle OpenMP threads must not spin when processes share the cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bytevid_hf.cli.train_long import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[1:], prog=os.path.basename(sys.argv[0]))
