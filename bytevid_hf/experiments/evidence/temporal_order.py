"""Temporal order (the arrow of time): a static crop of real footage played forward (0) or reversed (1).

Both classes read the same kind of frames (``num_frames`` frames, ``frame_step`` apart, one window); a reversed
clip is the forward clip's frames in the opposite order, so sizes, textures and motion magnitudes match and only
the direction of time tells them apart (people walking backwards, a leaf rising, a camera's forward drift).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .crops import render_windows
from .footage_task import FootageTask

__all__ = ["TemporalOrderTask"]


@dataclass
class TemporalOrderTask(FootageTask):
    """Attributes: ``crop_side`` (window side, source pixels) and ``frame_step`` (source frames between frames)."""

    name: ClassVar[str] = "temporal_order"
    class_names: ClassVar[tuple[str, ...]] = ("forward", "reversed")
    description: ClassVar[str] = "a static crop of real footage played forward or backward"

    crop_side: int = 96
    frame_step: int = 2

    def render(self, label: int, rng: np.random.Generator, split: str) -> tuple[np.ndarray, dict[str, Any]]:
        span = (self.num_frames - 1) * self.frame_step + 1
        source, first, origin = self.place(rng, split, span, (self.crop_side, self.crop_side))
        frames = [first + k * self.frame_step for k in range(self.num_frames)]
        if label == 1:
            frames = frames[::-1]
        windows = [(origin[0], origin[1], self.crop_side)] * len(frames)
        clip = render_windows(self.footage(source), frames, windows, self.size)
        return clip, self.meta(source, frames, origin, windows=[list(map(float, w)) for w in windows])
