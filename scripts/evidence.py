#!/usr/bin/env python
"""What do byte models learn? The evidence suite, bytes vs pixels at equal CPU time (docs/evidence.md).

``build_parser()`` and ``main(argv=None)`` come from :mod:`bytevid_hf.experiments.evidence.command`, loaded by path
when this file sits in the repository, so that ``--help`` imports neither the package nor torch.
"""

import importlib.util
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: no spinning threads on a shared machine

_COMMAND = Path(__file__).resolve().parents[1] / "bytevid_hf" / "experiments" / "evidence" / "command.py"


def _command():
    if _COMMAND.is_file():
        spec = importlib.util.spec_from_file_location("_bytevid_evidence_command", _COMMAND)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    from bytevid_hf.experiments.evidence import command

    return command


def build_parser():
    """The argparse parser of the evidence command."""
    return _command().build_parser(prog="evidence.py")


def main(argv=None, prog=None):
    """Run the evidence suite; returns the results dict."""
    return _command().main(argv, prog=prog or "python scripts/evidence.py")


if __name__ == "__main__":
    main(sys.argv[1:])
