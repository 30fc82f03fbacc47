#!/usr/bin/env python
"""Fine-tune a bytevid video classifier with transformers.Trainer: ``bytevid finetune``
(:mod:`bytevid_hf.cli.finetune`, where the options and examples are described; ``--help`` prints them)."""

import os
import sys

# Must precede the first `import torch`: with OpenMP's default (spinning) wait policy, idle threads burn the cores at
# every barrier and this many-small-ops workload slows down dramatically whenever another process shares the CPU.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bytevid_hf.cli.finetune import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[1:], prog=os.path.basename(sys.argv[0]))
