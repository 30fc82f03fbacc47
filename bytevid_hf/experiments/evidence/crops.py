"""Cut a (moving) window out of footage frames and resize it to the clip size.

A window is ``(x, y, side)`` in source pixels (top-left corner and side of a square, floats allowed); it is resampled
to ``size x size`` with Pillow's bilinear filter, whose support widens when it shrinks, so downscaled windows are
antialiased the same way whatever their side. Every class of a task goes through this one function, so a pan, a
zoom or a static crop all pay the same resampling.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["crop_resize", "render_windows"]


def crop_resize(frame: np.ndarray, x: float, y: float, side: float, size: int) -> np.ndarray:
    """The square window ``[x, x + side) x [y, y + side)`` of ``frame`` (``uint8[H, W, 3]``) as ``uint8[size, size, 3]``."""
    from PIL import Image

    h, w = frame.shape[:2]
    if x < -1e-6 or y < -1e-6 or x + side > w + 1e-6 or y + side > h + 1e-6:
        raise ValueError(f"window ({x:.1f}, {y:.1f}, side {side:.1f}) leaves the {w}x{h} frame")
    image = Image.fromarray(np.ascontiguousarray(frame))
    out = image.resize((size, size), Image.Resampling.BILINEAR, box=(x, y, x + side, y + side))
    return np.asarray(out, dtype=np.uint8)


def render_windows(footage: np.ndarray, frames: Sequence[int], windows: Sequence[tuple[float, float, float]],
                   size: int) -> np.ndarray:
    """``uint8[len(frames), size, size, 3]``: window ``windows[k]`` of footage frame ``frames[k]``."""
    if len(frames) != len(windows):
        raise ValueError("one window per frame")
    return np.stack([crop_resize(footage[f], *win, size) for f, win in zip(frames, windows)])
