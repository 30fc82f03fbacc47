"""Train / held-out splits that share no source segment and no crop position.

Real footage (:mod:`.footage`)
    * **Time.** Each source's frames are cut into a training segment (the first ``1 - heldout_fraction`` of the
      frames) and a held-out segment (the rest), with ``gap`` unused frames between them. A clip reads frames of one
      segment only, so no source frame of a held-out clip is ever seen in training.
    * **Crop position.** The window's starting position (top-left corner of its first frame, source pixels) is
      snapped to a lattice of ``position_step`` pixels; training clips start on the cells with ``(ix + iy)`` even,
      held-out clips on the odd cells (a checkerboard). Both splits cover the whole frame (no left/right bias that a
      pan task could exploit), but no starting position is shared.

Procedural scenes and the scene-cut task
    Every clip is rendered from its own seed; training and held-out seeds come from different ``SeedSequence``
    branches (``split`` is part of the entropy) and starting positions follow the same checkerboard rule.

:func:`check_disjoint` verifies all of this from the ``meta`` every generated clip carries (``source``, ``frames``,
``origin``, ``seed``), which is what the tests do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["SPLITS", "Segment", "time_segment", "lattice_origin", "split_of_origin", "check_disjoint", "clip_rng"]

SPLITS = ("train", "heldout")
_SPLIT_CODE = {"train": 0, "heldout": 1, "pretrain": 0}  # pre-training clips are drawn from the training side


@dataclass(frozen=True)
class Segment:
    """Frames ``[start, stop)`` of ``source``."""

    source: str
    start: int
    stop: int

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def _check_split(split: str) -> int:
    if split not in _SPLIT_CODE:
        raise ValueError(f"split must be one of {SPLITS} (or 'pretrain'), got {split!r}")
    return _SPLIT_CODE[split]


def time_segment(source: str, num_frames: int, split: str, heldout_fraction: float = 0.45, gap: int = 4) -> Segment:
    """The frames of ``source`` (``num_frames`` long) that ``split`` may use. ``'pretrain'`` is the training segment
    (pre-training never reads held-out frames)."""
    code = _check_split(split)
    if not 0.0 < heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in (0, 1), got {heldout_fraction}")
    heldout_start = num_frames - int(round(num_frames * heldout_fraction))
    train_stop = max(0, heldout_start - int(gap))
    return Segment(source, 0, train_stop) if code == 0 else Segment(source, heldout_start, num_frames)


def lattice_origin(rng: np.random.Generator, split: str, x_max: float, y_max: float, step: int = 8) -> tuple[int, int]:
    """A window origin ``(x, y)`` with ``0 <= x <= x_max``, ``0 <= y <= y_max`` on the ``step``-pixel lattice, on a
    cell of ``split``'s colour of the checkerboard (:func:`split_of_origin`)."""
    code = _check_split(split)
    nx, ny = int(x_max // step) + 1, int(y_max // step) + 1
    cells = [(ix, iy) for ix in range(nx) for iy in range(ny) if (ix + iy) % 2 == code]
    if not cells:
        raise ValueError(f"no {split} lattice cell fits in [0, {x_max}] x [0, {y_max}] with step {step}")
    ix, iy = cells[int(rng.integers(len(cells)))]
    return ix * step, iy * step


def split_of_origin(origin: tuple[int, int], step: int = 8) -> str:
    """Which split a lattice origin belongs to (``'train'`` on even cells, ``'heldout'`` on odd ones)."""
    x, y = origin
    if x % step or y % step:
        raise ValueError(f"origin {origin} is not on the {step}-pixel lattice")
    return SPLITS[(x // step + y // step) % 2]


def clip_rng(task: str, seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of clip ``index`` of ``split``: training and held-out clips come from different branches."""
    code = {"train": 0, "heldout": 1, "pretrain": 2}[split]
    task_key = int.from_bytes(task.encode()[:8].ljust(8, b"\0"), "little")
    return np.random.default_rng(np.random.SeedSequence([int(seed), code, int(index), task_key]))


def check_disjoint(train_meta: Iterable[Mapping], heldout_meta: Iterable[Mapping]) -> dict[str, int]:
    """Raise ``AssertionError`` when a held-out clip shares a source frame, a crop starting position or a render
    seed with a training clip; return counts of what was compared.

    Every ``meta`` may hold ``source`` and ``frames`` (source frame indices read), ``origin`` (crop start) and
    ``seed`` (render seed of procedural clips).
    """
    train_meta, heldout_meta = list(train_meta), list(heldout_meta)
    frames: dict[str, set[int]] = {}
    origins: set[tuple] = set()
    seeds: set[int] = set()
    for m in train_meta:
        if "frames" in m:
            frames.setdefault(m["source"], set()).update(int(f) for f in m["frames"])
        if "origin" in m:
            origins.add((m.get("source"), *map(int, m["origin"])))
        if "seed" in m:
            seeds.add(int(m["seed"]))
    checked = {"frames": 0, "origins": 0, "seeds": 0}
    for i, m in enumerate(heldout_meta):
        if "frames" in m:
            shared = frames.get(m["source"], set()) & {int(f) for f in m["frames"]}
            assert not shared, f"held-out clip {i} reads training frames {sorted(shared)[:5]} of {m['source']}"
            checked["frames"] += 1
        if "origin" in m:
            key = (m.get("source"), *map(int, m["origin"]))
            assert key not in origins, f"held-out clip {i} starts at a training crop position {key}"
            checked["origins"] += 1
        if "seed" in m:
            assert int(m["seed"]) not in seeds, f"held-out clip {i} has a training seed {m['seed']}"
            checked["seeds"] += 1
    return checked
