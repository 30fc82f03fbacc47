"""What every evidence task has in common: balanced labels, per-split seeds, one encoder, generation of rows.

A task renders the RGB frames of one clip for a ``(label, rng, split)`` and says what it read (``meta``); the base
class encodes them (:func:`.encoding.encode_clip`, the task's one :class:`.encoding.EncoderSettings`) and returns rows
``{"video": bytes, "label": int, "meta": dict}``. Labels cycle ``0, 1, ..., K-1, 0, ...`` so every split is balanced;
the rate-control draws come from a generator separate from the one that renders, so they cannot depend on the
label.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ...data.parallel import map_in_processes
from .encoding import EncoderSettings, encode_clip
from .splits import clip_rng

__all__ = ["EvidenceTask"]


@dataclass
class EvidenceTask:
    """Base class of the evidence tasks (subclasses set ``name``, ``class_names`` and :meth:`render`).

    Attributes:
        size: frame side of the encoded clips (square, even).
        num_frames: frames per clip.
        encoder: encoder settings shared by all classes.
    """

    name: ClassVar[str] = ""
    class_names: ClassVar[tuple[str, ...]] = ()
    #: What the label is about, one line (docs, reports).
    description: ClassVar[str] = ""

    size: int = 64
    num_frames: int = 16
    encoder: EncoderSettings = field(default_factory=EncoderSettings)

    def __post_init__(self) -> None:
        if self.size % 2 or self.size < 16:
            raise ValueError(f"size must be an even number >= 16, got {self.size}")
        if self.num_frames < 2:
            raise ValueError(f"num_frames must be >= 2, got {self.num_frames}")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.class_names))

    # ------------------------------------------------------------------ one clip
    def render(self, label: int, rng: np.random.Generator, split: str) -> tuple[np.ndarray, dict[str, Any]]:
        """RGB frames ``uint8[num_frames, size, size, 3]`` of a clip of class ``label`` and its metadata."""
        raise NotImplementedError

    def clip(self, index: int, split: str, seed: int = 0) -> dict[str, Any]:
        """Row ``index`` of ``split``: ``{"video": mp4 bytes, "label": index % K, "meta": {...}}``."""
        label = int(index) % self.num_classes
        frames, meta = self.render(label, clip_rng(self.name, seed, split, index), split)
        rate = self.encoder.draw(clip_rng(self.name + "/rate", seed, split, index))
        video = encode_clip(frames, self.encoder, **rate)
        return {"video": video, "label": label, "meta": {**meta, **rate, "split": split, "index": int(index)}}

    # ------------------------------------------------------------------ many clips
    def generate(self, num_clips: int, split: str, seed: int = 0, num_proc: int = 1,
                 progress: bool = False) -> list[dict[str, Any]]:
        """``num_clips`` rows of ``split`` (``"train"``, ``"heldout"``, or ``"pretrain"``: more clips from the
        training side, labels to be ignored), in index order."""
        jobs = [(self, i, split, seed) for i in range(int(num_clips))]
        return list(_run(jobs, num_proc, progress, desc=f"{self.name} {split}"))

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "classes": list(self.class_names), "description": self.description}
        for key, value in self.__dict__.items():
            out[key] = value.to_dict() if hasattr(value, "to_dict") else value
        return out


def _worker(job: tuple) -> dict[str, Any]:
    task, index, split, seed = job
    return task.clip(index, split, seed)


def _run(jobs: list, num_proc: int, progress: bool, desc: str, worker=_worker) -> Iterator[dict[str, Any]]:
    return map_in_processes(worker, jobs, num_proc, progress=progress, desc=desc, leave=False)
