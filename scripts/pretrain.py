#!/usr/bin/env python
"""Self-supervised pre-training (next-byte or RGB reconstruction): ``bytevid pretrain``
(:mod:`bytevid_hf.cli.pretrain`, where the options and examples are described; ``--help`` prints them)."""

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: no spinning threads on a shared machine

from bytevid_hf.cli.pretrain import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[1:], prog=os.path.basename(sys.argv[0]))
