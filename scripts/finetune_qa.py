#!/usr/bin/env python
"""Fine-tune video question answering (bytevid encoder + Gemma LM): ``bytevid finetune-qa``
(:mod:`bytevid_hf.cli.finetune_qa`, where the options and examples are described; ``--help`` prints them)."""

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: no spinning threads on a shared machine

from bytevid_hf.cli.finetune_qa import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[1:], prog=os.path.basename(sys.argv[0]))
