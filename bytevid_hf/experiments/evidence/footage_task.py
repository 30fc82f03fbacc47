"""Base class of the tasks cut from real footage: where a clip comes from (source, frames, crop position).

:meth:`FootageTask.place` draws, for one clip, a source whose ``split`` segment (:func:`.splits.time_segment`) is
long enough, a first frame inside that segment, and the top-left corner of the region the window sweeps over
(:func:`.splits.lattice_origin`: a checkerboard cell of the split's colour). Subclasses decide what the window does
inside that region.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import EvidenceTask
from .footage import SOURCES, load_footage
from .splits import Segment, lattice_origin, time_segment

__all__ = ["FootageTask"]


@dataclass
class FootageTask(EvidenceTask):
    """A task whose clips are windows of real footage.

    Attributes:
        short_side: sources are scaled so that their shorter side has this many pixels (the window coordinates are
            in these pixels).
        sources: names of the source clips (:data:`.footage.SOURCES`).
        heldout_fraction, gap: the time split of every source (:func:`.splits.time_segment`).
        position_step: lattice step of the crop positions (:func:`.splits.lattice_origin`).
    """

    short_side: int = 144
    sources: tuple[str, ...] = SOURCES
    heldout_fraction: float = 0.45
    gap: int = 4
    position_step: int = 8

    def footage(self, source: str) -> np.ndarray:
        return load_footage(source, self.short_side)

    def segment(self, source: str, split: str) -> Segment:
        return time_segment(source, len(self.footage(source)), split, self.heldout_fraction, self.gap)

    def place(self, rng: np.random.Generator, split: str, span: int, extent: tuple[float, float]
              ) -> tuple[str, int, tuple[int, int]]:
        """``(source, first_frame, origin)`` for a clip reading ``span`` consecutive source frames inside a region of
        ``extent = (width, height)`` source pixels."""
        fitting = []
        for source in self.sources:
            footage = self.footage(source)
            h, w = footage.shape[1:3]
            if len(self.segment(source, split)) >= span and extent[0] <= w and extent[1] <= h:
                fitting.append(source)
        if not fitting:
            raise ValueError(f"{self.name}: no source has a {split} segment of {span} frames and a "
                             f"{extent[0]:.0f}x{extent[1]:.0f} region")
        source = fitting[int(rng.integers(len(fitting)))]
        segment = self.segment(source, split)
        first = int(rng.integers(segment.start, segment.stop - span + 1))
        h, w = self.footage(source).shape[1:3]
        origin = lattice_origin(rng, split, w - extent[0], h - extent[1], self.position_step)
        return source, first, origin

    def meta(self, source: str, frames: list[int], origin: tuple[int, int], **extra: Any) -> dict[str, Any]:
        return {"source": source, "frames": [int(f) for f in frames], "origin": [int(origin[0]), int(origin[1])],
                **extra}
