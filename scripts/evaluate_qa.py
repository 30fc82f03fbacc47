#!/usr/bin/env python
"""Evaluate a video-QA model (generate answers, score them offline): ``bytevid evaluate-qa``
(:mod:`bytevid_hf.cli.evaluate_qa`, where the options and examples are described; ``--help`` prints them)."""

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: no spinning threads on a shared machine

from bytevid_hf.cli.evaluate_qa import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[1:], prog=os.path.basename(sys.argv[0]))
