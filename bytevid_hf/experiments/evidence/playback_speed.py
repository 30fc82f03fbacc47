"""Playback speed: the same footage stepped 1x, 2x or 4x (every frame, every 2nd, every 4th source frame).

A static crop; only how far the content moves between consecutive frames differs. Faster clips hold more change
per frame, which an encoder pays for in bits: under the strict constant bitrate of :mod:`.encoding` that shows up
inside the stream (quantisers, filler), not in the file size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .crops import render_windows
from .footage_task import FootageTask

__all__ = ["PlaybackSpeedTask"]


@dataclass
class PlaybackSpeedTask(FootageTask):
    """Attributes: ``crop_side`` (window side, source pixels) and ``steps`` (source frames per clip frame, per
    class). ``num_frames`` defaults to 12 so that a 4x clip (45 source frames) fits into every source's held-out
    segment."""

    name: ClassVar[str] = "playback_speed"
    class_names: ClassVar[tuple[str, ...]] = ("1x", "2x", "4x")
    description: ClassVar[str] = "real footage stepped 1x, 2x or 4x"

    num_frames: int = 12
    crop_side: int = 96
    steps: tuple[int, ...] = (1, 2, 4)

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.steps) != len(self.class_names):
            raise ValueError(f"one step per class {self.class_names}, got {self.steps}")

    def render(self, label: int, rng: np.random.Generator, split: str) -> tuple[np.ndarray, dict[str, Any]]:
        step = int(self.steps[label])
        span = (self.num_frames - 1) * step + 1
        source, first, origin = self.place(rng, split, span, (self.crop_side, self.crop_side))
        frames = [first + k * step for k in range(self.num_frames)]
        windows = [(origin[0], origin[1], self.crop_side)] * len(frames)
        clip = render_windows(self.footage(source), frames, windows, self.size)
        return clip, self.meta(source, frames, origin, windows=[list(map(float, w)) for w in windows])
