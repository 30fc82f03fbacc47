"""Appearance: the colour of a moving object (red / yellow / green / blue) over a textured background.

A procedural scene, rendered at the clip size: a mosaic background of random-colour blocks pulled towards grey
(low saturation, random hues, so the background's chroma varies from clip to clip but is never as saturated as the
object), one saturated object of the class's hue (hue, saturation and brightness jittered) and ``distractors``
achromatic objects of the same shapes and sizes, all moving and bouncing off the borders. Shape, size, speed and
positions are drawn independently of the label, so the answer is only in the chroma of the one coloured object,
not in the structure of the stream.

Each clip is rendered from its own seed (``meta["seed"]``), training and held-out seeds come from different
branches, and the coloured object's starting position is a checkerboard lattice cell of the split's colour.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .base import EvidenceTask
from .splits import lattice_origin

__all__ = ["AppearanceTask", "HUES"]

#: Hue (degrees) of each class.
HUES = {"red": 0.0, "yellow": 60.0, "green": 120.0, "blue": 230.0}


@dataclass
class AppearanceTask(EvidenceTask):
    """Attributes: ``object_size`` (side range, px), ``speed`` (max px per frame per axis), ``hue_jitter``
    (degrees), ``saturation``/``value`` (ranges of the object's colour), ``background_saturation`` (how far the
    mosaic's colours are from grey, at most), ``block_size`` (mosaic block side range, px), ``distractors`` (number of
    grey moving objects), ``position_step`` (lattice of the start positions)."""

    name: ClassVar[str] = "appearance"
    class_names: ClassVar[tuple[str, ...]] = tuple(HUES)
    description: ClassVar[str] = "colour of a moving object over a textured background (procedural)"

    object_size: tuple[int, int] = (10, 18)
    speed: float = 2.5
    hue_jitter: float = 15.0
    saturation: tuple[float, float] = (0.6, 1.0)
    value: tuple[float, float] = (0.55, 1.0)
    background_saturation: float = 0.35
    block_size: tuple[int, int] = (2, 6)
    distractors: int = 2
    position_step: int = 8

    def object_colour(self, label: int, rng: np.random.Generator) -> np.ndarray:
        hue = (HUES[self.class_names[label]] + rng.uniform(-self.hue_jitter, self.hue_jitter)) % 360.0
        rgb = colorsys.hsv_to_rgb(hue / 360.0, rng.uniform(*self.saturation), rng.uniform(*self.value))
        return np.round(np.array(rgb) * 255).astype(np.uint8)

    def render(self, label: int, rng: np.random.Generator, split: str) -> tuple[np.ndarray, dict[str, Any]]:
        frames, meta, _ = self.render_with_mask(label, rng, split)
        return frames, meta

    def render_with_mask(self, label: int, rng: np.random.Generator, split: str
                         ) -> tuple[np.ndarray, dict[str, Any], np.ndarray]:
        """:meth:`render` plus boolean ``[num_frames, size, size]`` masks of the coloured object."""
        seed = int(rng.integers(2**62))
        r = np.random.default_rng(seed)
        n, s = self.size, self.num_frames
        bs = int(r.integers(self.block_size[0], self.block_size[1] + 1))
        blocks = r.integers(0, 256, (n // bs + 1, n // bs + 1, 3)).astype(np.float32)
        grey = blocks.mean(axis=-1, keepdims=True)
        sat = r.uniform(0.0, self.background_saturation)
        background = np.repeat(np.repeat(grey + sat * (blocks - grey), bs, 0), bs, 1)[:n, :n]
        background = np.clip(background, 0, 255).astype(np.uint8)

        colour = self.object_colour(label, r)
        objects = []
        for k in range(1 + self.distractors):
            side = int(r.integers(self.object_size[0], self.object_size[1] + 1))
            if k == 0:
                origin = lattice_origin(r, split, n - side, n - side, self.position_step)
                pos = np.array([origin[1], origin[0]], dtype=np.float64)  # (y, x)
                fill = colour
            else:
                pos = r.uniform([0, 0], [n - side, n - side])
                fill = np.full(3, int(r.integers(30, 226)), np.uint8)
            vel = r.uniform(-self.speed, self.speed, 2)
            objects.append({"side": side, "pos": pos, "vel": vel, "fill": fill, "disc": bool(r.integers(2))})
        frames = np.empty((s, n, n, 3), np.uint8)
        yy, xx = np.mgrid[0:n, 0:n]
        masks = np.zeros((s, n, n), bool)  # where the coloured object is
        for t in range(s):
            frames[t] = background
            for k, ob in enumerate(objects[::-1]):  # the coloured object last, on top
                side = ob["side"]
                y, x = ob["pos"]
                if ob["disc"]:
                    c = (side - 1) / 2
                    mask = (yy - y - c) ** 2 + (xx - x - c) ** 2 <= (side / 2) ** 2
                else:
                    mask = (yy >= int(y)) & (yy < int(y) + side) & (xx >= int(x)) & (xx < int(x) + side)
                frames[t][mask] = ob["fill"]
                if k == len(objects) - 1:
                    masks[t] = mask
                hi = np.array([n - side, n - side], dtype=np.float64)
                new = ob["pos"] + ob["vel"]
                ob["vel"][(new < 0) | (new > hi)] *= -1
                ob["pos"] = np.clip(new, 0, hi)
        meta = {"seed": seed, "origin": [int(origin[0]), int(origin[1])], "colour": [int(c) for c in colour],
                "object_side": objects[0]["side"]}
        return frames, meta, masks
