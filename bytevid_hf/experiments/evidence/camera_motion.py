"""Camera motion: a window panning left / right / up / down, or zooming in / out, over real footage.

Class names say what the *camera* does: ``pan_right`` moves the window to the right, so the content slides to the
left in the clip; ``zoom_in`` shrinks the window, so the content grows. The footage keeps playing (one source frame
per clip frame), so the scene's own motion (cyclists, passing landscape) is mixed in, as with a real camera.

Every class resamples a window of about ``crop_side`` source pixels to ``size``: pans keep the side at
``crop_side``; zooms move it geometrically between ``crop_side * sqrt(r)`` and ``crop_side / sqrt(r)`` (ratio ``r``
drawn from ``zoom_ratio``) about a fixed centre. Pan speeds (``speed``, source pixels per frame) and zoom ratios are
drawn independently of the direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .crops import render_windows
from .footage_task import FootageTask

__all__ = ["CameraMotionTask", "MOTIONS"]

#: (dx, dy) of the window per class for pans (+x right, +y down); zooms have no translation.
MOTIONS = {"pan_left": (-1, 0), "pan_right": (1, 0), "pan_up": (0, -1), "pan_down": (0, 1), "zoom_in": None,
           "zoom_out": None}


@dataclass
class CameraMotionTask(FootageTask):
    """Attributes: ``crop_side`` (window side of pans, source pixels), ``speed`` (range of pan speeds, source px per
    frame), ``zoom_ratio`` (range of the zooms' start/end side ratio), ``zooms`` (include the two zoom classes; with
    ``False`` the task is the 4 pans)."""

    name: ClassVar[str] = "camera_motion"
    description: ClassVar[str] = "a window over real footage panning left/right/up/down or zooming in/out"

    crop_side: int = 80
    speed: tuple[float, float] = (1.5, 3.0)
    zoom_ratio: tuple[float, float] = (1.4, 1.8)
    zooms: bool = True

    @property
    def class_names(self) -> tuple[str, ...]:  # type: ignore[override]
        names = tuple(MOTIONS)
        return names if self.zooms else names[:4]

    def windows(self, label: int, rng: np.random.Generator) -> tuple[list[tuple[float, float, float]], dict]:
        """Window ``(x, y, side)`` per frame relative to the region's origin, the region's extent, and the draws."""
        name = self.class_names[label]
        t = np.arange(self.num_frames, dtype=np.float64)
        if MOTIONS[name] is not None:
            dx, dy = MOTIONS[name]
            speed = float(rng.uniform(*self.speed))
            travel = speed * (self.num_frames - 1)
            s = float(self.crop_side)
            xs = (travel / 2) + dx * (t * speed - travel / 2)
            ys = (travel / 2) + dy * (t * speed - travel / 2)
            # the sweep region is (s + travel) wide along the motion axis, s across it
            xs = xs if dx else np.zeros_like(t)
            ys = ys if dy else np.zeros_like(t)
            extent = (s + (travel if dx else 0.0), s + (travel if dy else 0.0))
            return [(float(x), float(y), s) for x, y in zip(xs, ys)], {"speed": speed, "extent": extent}
        ratio = float(rng.uniform(*self.zoom_ratio))
        big, small = self.crop_side * math.sqrt(ratio), self.crop_side / math.sqrt(ratio)
        start, end = (big, small) if name == "zoom_in" else (small, big)
        # (end / start) ** 1 * start can round above `big`, which would put the last window's offset at -1e-14
        sides = np.minimum(start * (end / start) ** (t / (self.num_frames - 1)), big)
        offsets = (big - sides) / 2
        return [(float(o), float(o), float(s)) for o, s in zip(offsets, sides)], {"zoom_ratio": ratio,
                                                                                  "extent": (big, big)}

    def render(self, label: int, rng: np.random.Generator, split: str) -> tuple[np.ndarray, dict[str, Any]]:
        relative, draws = self.windows(label, rng)
        extent = tuple(math.ceil(e) for e in draws.pop("extent"))
        source, first, origin = self.place(rng, split, self.num_frames, extent)
        frames = list(range(first, first + self.num_frames))
        windows = [(origin[0] + x, origin[1] + y, s) for x, y, s in relative]
        clip = render_windows(self.footage(source), frames, windows, self.size)
        return clip, self.meta(source, frames, origin, windows=[list(map(float, w)) for w in windows], **draws)
