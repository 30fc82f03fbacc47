"""Scene cuts, the positive control: the package's demo task (:mod:`bytevid_hf.data.synthetic`), unchanged.

The label (number of hard cuts, 0-3) is written into the stream as byte-aligned IDR pictures and their SEI
headers, so a byte model learns it quickly (``scripts/demo.py``). Training and held-out clips come from
:meth:`~bytevid_hf.data.synthetic.SyntheticVideoTask.clip_plan` with different seeds (``2 * seed`` and
``2 * seed + 1``; pre-training clips use ``2 * seed + 2**20``), so no clip seed is shared; each row's ``meta["seed"]``
is its clip seed. The encoder settings are the demo's (40-60 frames, strict CBR), not :mod:`.encoding`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...data.synthetic import SyntheticVideoTask

__all__ = ["SceneCutsTask"]

_SPLIT_OFFSET = {"train": 0, "heldout": 1, "pretrain": 2**20}


@dataclass
class SceneCutsTask:
    """Wraps :class:`~bytevid_hf.data.synthetic.SyntheticVideoTask` (its settings in ``synthetic``) with the
    evidence tasks' interface (``generate(num_clips, split, seed)`` -> rows with ``meta``)."""

    name: ClassVar[str] = "scene_cuts"
    description: ClassVar[str] = "number of hard scene cuts (0-3) in a procedural clip; the demo task"

    synthetic: SyntheticVideoTask = field(default_factory=SyntheticVideoTask)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.synthetic.class_names)

    @property
    def num_classes(self) -> int:
        return self.synthetic.num_classes

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.class_names))

    def generate(self, num_clips: int, split: str, seed: int = 0, num_proc: int = 1,
                 progress: bool = False) -> list[dict[str, Any]]:
        if split not in _SPLIT_OFFSET:
            raise ValueError(f"split must be one of {tuple(_SPLIT_OFFSET)}, got {split!r}")
        rows = self.synthetic.generate(num_clips, seed=2 * int(seed) + _SPLIT_OFFSET[split], num_proc=num_proc,
                                       progress=progress)
        return [{"video": r["video"], "label": r["label"], "meta": {"seed": r["seed"], "split": split, "index": i}}
                for i, r in enumerate(rows)]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "classes": list(self.class_names), "description": self.description,
                "synthetic": self.synthetic.to_dict()}
