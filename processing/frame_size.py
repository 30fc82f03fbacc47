"""The one short-side scaling rule of the package: the size a frame is resized to.

Transcoding, augmentation, JPEG mode and the RGB-reconstruction targets all resize so that the *shorter* side of a
frame becomes ``size`` pixels and the aspect ratio is kept. :func:`short_side_size` is the only place that turns
this into pixel counts:

* the shorter side becomes ``size`` and the longer side ``longer * size / shorter``;
* each side is rounded **half up to the nearest multiple of** ``multiple`` and is at least ``multiple``.

``multiple=2`` is for the video encoders, which store yuv420p (chroma at half resolution, so H.264/H.265/VP9 need
even sides): an odd ``size`` becomes ``size + 1``. ``multiple=1`` (JPEG, RGB targets) keeps ``size`` exactly.
Round-half-up to a multiple is also what FFmpeg's ``scale`` filter does for ``-2`` (``scale=-2:384``). The arithmetic
is exact (integers), so the result never depends on floating-point rounding.
"""

from __future__ import annotations

from numbers import Integral

__all__ = ["short_side_size", "MAX_SHORT_SIDE"]

#: Largest target shorter side, in pixels, that a setting may ask for (transcoding ``size``, JPEG ``jpeg_size``): 8K
#: video (7680x4320 and 8192x4320) has a 4320-pixel shorter side. A saved processor config is untrusted input, and a
#: larger target only upscales: ``size=8192`` turns a 176x144 clip into 10032x8192 frames (250 MB each) before the
#: encoder fails, so such values are refused when the setting is made.
MAX_SHORT_SIDE = 4320


def _round_to_multiple(numerator: int, denominator: int, multiple: int) -> int:
    """``numerator / denominator`` rounded half up to the nearest multiple of ``multiple`` (at least ``multiple``)."""
    # floor(n / (d * m) + 1/2) * m, in integers
    return max(multiple, (2 * numerator + denominator * multiple) // (2 * denominator * multiple) * multiple)


def short_side_size(width: int, height: int, size: int, multiple: int = 1) -> tuple[int, int]:
    """``(width, height)`` scaled so that the shorter side is ``size`` (aspect ratio kept), each side rounded half up
    to the nearest multiple of ``multiple`` (2 for yuv420p video encoders, 1 otherwise) and at least ``multiple``.

    A square frame counts its width as the shorter side (both become ``size``).
    """
    for key, value in (("width", width), ("height", height), ("size", size), ("multiple", multiple)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise ValueError(f"{key} must be a positive int, got {value!r}")
    width, height, size, multiple = int(width), int(height), int(size), int(multiple)
    shorter, longer = (width, height) if width <= height else (height, width)
    new_shorter = _round_to_multiple(size, 1, multiple)
    new_longer = _round_to_multiple(longer * size, shorter, multiple)
    return (new_shorter, new_longer) if width <= height else (new_longer, new_shorter)
