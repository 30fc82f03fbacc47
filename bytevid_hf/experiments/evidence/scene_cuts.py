"""Scene cuts, the positive control: the package's demo task (:mod:`bytevid_hf.data.synthetic`), unchanged.

The label (number of hard cuts, 0-3) is written into the stream as byte-aligned IDR pictures and their SEI
headers, so a byte model learns it quickly (``scripts/demo.py``). Training and held-out clips come from
:meth:`~bytevid_hf.data.synthetic.SyntheticVideoTask.clip_plan` with different seeds (``2 * seed`` and
``2 * seed + 1``; pre-training clips use ``2 * seed + 2**20``), so no clip seed is shared; each row's ``meta["seed"]``
is its clip seed. The encoder settings are the demo's (40-60 frames, strict CBR), not :mod:`.encoding`'s.

With another ``encoding`` (:data:`.encoding.ENCODINGS`) the same frames and rate draws (same plan, same labels) are
encoded by :func:`.encoding.encode_clip` with the demo's x264 settings (bitrate, ``qpmin``, ``scenecut``,
``min-keyint=1``, preset) carried over to the variant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...data.synthetic import SyntheticVideoTask
from .encoding import EncoderSettings, encode_clip

__all__ = ["SceneCutsTask"]

_SPLIT_OFFSET = {"train": 0, "heldout": 1, "pretrain": 2**20}


@dataclass
class SceneCutsTask:
    """Wraps :class:`~bytevid_hf.data.synthetic.SyntheticVideoTask` (its settings in ``synthetic``) with the
    evidence tasks' interface (``generate(num_clips, split, seed)`` -> rows with ``meta``)."""

    name: ClassVar[str] = "scene_cuts"
    description: ClassVar[str] = "number of hard scene cuts (0-3) in a procedural clip; the demo task"

    synthetic: SyntheticVideoTask = field(default_factory=SyntheticVideoTask)
    encoding: str = "h264"

    @property
    def encoder(self) -> EncoderSettings:
        """The demo's encoder settings as :class:`.encoding.EncoderSettings`, re-targeted at ``encoding``."""
        s = self.synthetic
        return EncoderSettings(fps=s.fps, bitrate=s.bitrate, bitrate_jitter=s.bitrate_jitter,
                               vbv_init_range=tuple(s.vbv_init_range), qpmin=s.qpmin, preset=s.preset,
                               keyint=s.keyint, scenecut=s.scenecut, min_keyint=1).variant(self.encoding)

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
        clip_seed = 2 * int(seed) + _SPLIT_OFFSET[split]
        if self.encoding == "h264":
            rows = self.synthetic.generate(num_clips, seed=clip_seed, num_proc=num_proc, progress=progress)
        else:
            from .base import _run

            plan = self.synthetic.clip_plan(num_clips, clip_seed)
            jobs = [(self.synthetic, self.encoder, label, s) for label, s in plan]
            videos = _run(jobs, num_proc, progress, desc=f"{self.name} {split}", worker=_encode_worker)
            rows = [{"video": v, "label": label, "seed": s} for (label, s), v in zip(plan, videos)]
        return [{"video": r["video"], "label": r["label"], "meta": {"seed": r["seed"], "split": split, "index": i}}
                for i, r in enumerate(rows)]

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "classes": list(self.class_names), "description": self.description,
               "synthetic": self.synthetic.to_dict()}
        if self.encoding != "h264":
            out.update(encoding=self.encoding, encoder=self.encoder.to_dict())
        return out


def _encode_worker(job: tuple) -> bytes:
    synthetic, encoder, label, seed = job
    frames, _, rate = synthetic._clip(label, seed)
    return encode_clip(frames, encoder, **rate)
