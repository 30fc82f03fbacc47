#!/usr/bin/env python
"""Publish a bytevid checkpoint (or a LoRA adapter) to the Hugging Face Hub: ``bytevid push``
(:mod:`bytevid_hf.cli.push`, where the options are described; ``--help`` prints them)."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bytevid_hf.cli.push import main, parse_args  # noqa: E402,F401

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog=os.path.basename(sys.argv[0])))
