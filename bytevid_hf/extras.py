"""Optional dependencies: what only the scripts and experiments use is installed by an extra, and imported lazily.

* ``pip install "bytevid-hf[plots]"`` — matplotlib, for the figures of ``scripts/ablate.py``,
  ``scripts/augmentation_experiment.py``, the benchmark and the evidence report;
* ``pip install "bytevid-hf[experiments]"`` — rapidfuzz (``bytevid_hf.processing.byte_difference``, used by
  ``scripts/augmentation_distance.py``) and matplotlib;
* ``pip install "bytevid-hf[dev]"`` installs both, so the tests run.

``import bytevid_hf``, the models, processors, training and the ``bytevid`` command need neither.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: The extras of setup.cfg that hold optional dependencies, and what each installs.
EXTRAS: dict[str, tuple[str, ...]] = {"plots": ("matplotlib",), "experiments": ("rapidfuzz", "matplotlib")}


def install_hint(extra: str) -> str:
    return f'pip install "bytevid-hf[{extra}]"'


def require(module: str, extra: str, purpose: str | None = None) -> ModuleType:
    """Import ``module``; when it is not installed, raise an ``ImportError`` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        package = module.split(".")[0]
        who = f"{purpose} needs" if purpose else "this needs"
        raise ImportError(
            f"{who} {package}, an optional dependency of bytevid-hf: {install_hint(extra)} (or pip install {package})"
        ) from error


def pyplot(purpose: str | None = None) -> ModuleType:
    """``matplotlib.pyplot`` on the file-only Agg backend, or an ``ImportError`` naming the ``[plots]`` extra."""
    matplotlib = require("matplotlib", "plots", purpose)
    matplotlib.use("Agg")
    return require("matplotlib.pyplot", "plots", purpose)


__all__ = ["EXTRAS", "install_hint", "pyplot", "require"]
