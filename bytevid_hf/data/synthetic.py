"""Built-in synthetic labelled video generator: real H.264 mp4 clips whose label is the
number of hard scene cuts in the clip.

Why this task
-------------
The package classifies videos from their *encoded bytes*, so a demo task must

(a) have labels that depend on what happens in the frames,
(b) leave a byte-aligned, local trace in the encoded stream that a small byte model can
    pick up quickly, and
(c) make the file size uninformative (otherwise a classifier that only sees the size wins).

``SyntheticVideoTask`` (task ``"scene_cuts"``) satisfies all three:

* Each clip is 1 + ``label`` *scenes*. A scene is a static random block texture (a mosaic
  of random-colour blocks, 2-6 px, tinted towards a random base colour) with 1-3 solid
  squares bouncing around on it. Consecutive scenes share nothing, so every scene boundary
  is a hard cut; within a scene only the squares move. The label (number of cuts,
  ``0 .. num_classes-1``) is therefore a property of the pixels: decode the clip and count
  the frames where almost every pixel changes.
* Keyframes are **not** forced. libx264's own scene-cut detection (lookahead intra vs.
  inter cost) turns each cut into an IDR picture (measured agreement with the true cut
  positions: ~99%, see ``scripts/probe_synthetic.py``). In the mp4 (AVCC) stream every
  IDR picture is a NAL unit ``[4-byte big-endian length][0x65][0x88 ...]`` (P slices are
  ``0x41 0x9a ...``), is preceded by a buffering-period SEI (``[00 00 00 09][06 00 ...]``,
  emitted only at IDRs because of ``nal-hrd``), is much larger than the surrounding P
  pictures, and is listed in the ``stss`` box of ``moov``. The label equals the number of
  such IDR NAL units minus one.
* The file size carries no label information. Rate control is strict constant bitrate
  (``nal-hrd=cbr``, ``vbv-maxrate = vbv-bufsize = bitrate``, filler data): the bytes of a
  clip are ``bitrate x duration + initial - final VBV buffer fullness``. Two details make
  that exact rather than approximate, both measured (``scripts/probe_synthetic.py``):

  - ``qpmin`` (default 40) keeps P pictures well below the per-frame budget, so after every
    IDR the buffer refills within a few frames and every clip *ends with a full buffer*
    (x264 then emits filler NAL units, ``[len][0x0C][ff ff ...]``). Without it a clip
    with more cuts ends with an emptier buffer: with x264's default ``qpmin=0`` 3-cut clips
    are ~10% larger per frame than 0-cut clips and size-only accuracy is 30% instead of
    25% on 4 classes.
  - Under exact CBR the size lands on a lattice ``a + bitrate/fps x frames`` and tiny
    container terms (the ``stss`` box grows by 4 bytes per keyframe) become readable from
    the size alone (size-only 30% with 3000 training clips). The initial buffer fullness
    (``vbv-init``, uniform in ``vbv_init_range``) and the bitrate (``+-bitrate_jitter``)
    are therefore drawn per clip, independently of the label, which smears the lattice.

  The number of frames is drawn uniformly from ``[min_frames, max_frames]``, also
  independently of the label, so sizes spread over ~+-25% around the mean. The cuts are
  paid for inside the budget: more cuts, fewer filler bytes - a global byte-statistics
  trace in addition to the local IDR markers.

Clips are deterministic: the same ``(label, seed, settings)`` always gives the same bytes
(x264 runs single-threaded; the mp4 muxer writes no wall-clock time).

Usage::

    from bytevid_hf.data.synthetic import SyntheticVideoTask, generate_clip

    task = SyntheticVideoTask()                      # 4 classes: 0..3 scene cuts
    rows = task.generate(600, seed=0, num_proc=2)    # [{"video": bytes, "label": int, "seed": int}]
    task.write_folder("data/train", 400, seed=1)     # data/train/<class_name>/<idx>.mp4
    mp4 = generate_clip(2, seed=123)                 # one clip with 2 cuts, as bytes
"""

from __future__ import annotations

import dataclasses
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..processing.ffmpeg_logs import quiet_ffmpeg_logs
from .parallel import map_in_processes

__all__ = [
    "SyntheticVideoTask",
    "generate_clip",
    "render_clip",
    "count_hard_cuts",
]

_NUMBER_WORDS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@dataclass
class SyntheticVideoTask:
    """Settings of the synthetic scene-cut counting task (all have working defaults).

    Attributes:
        name: task name (only ``"scene_cuts"`` exists).
        num_classes: number of classes; class ``k`` = clips with exactly ``k`` hard scene
            cuts (``k + 1`` scenes). Needs ``num_classes * min_scene_frames <= min_frames``.
        width, height: frame size in pixels (even numbers; H.264 4:2:0).
        fps: frame rate (integer frames per second).
        min_frames, max_frames: the number of frames of each clip is drawn uniformly from
            this inclusive range, independently of the label (decorrelates size and label).
        min_scene_frames: minimum length of a scene; cut positions are otherwise uniform.
        bitrate: nominal constant bitrate in bits per second (strict CBR: HRD + filler).
        bitrate_jitter: each clip's bitrate is ``bitrate * (1 + u)``, ``u`` uniform in
            ``[-bitrate_jitter, bitrate_jitter]`` (rounded to whole kbit/s), drawn
            independently of the label.
        vbv_init_range: range of x264's ``vbv-init`` (initial buffer fullness, fraction of
            the buffer), drawn per clip independently of the label; smears the size lattice.
        qpmin: minimum quantiser. High enough that P pictures stay cheap, so the VBV buffer
            is full again at the end of every clip (makes the size independent of the
            number of cuts). Lower values give better pictures but leak the label into the
            size.
        preset: x264 preset.
        scenecut: x264 ``scenecut`` threshold (x264 default is 40; 60 was measured to give
            the best agreement between true cuts and IDR pictures for this content).
        keyint: x264 max GOP length; keep it above ``max_frames`` so no periodic keyframes
            are inserted (every keyframe after the first is a detected scene cut).
        block_size_range: inclusive range of the block size (px) of the scene textures.
        texture_mix_range: weight of the random block colours against the scene's base
            colour (1.0 = fully random mosaic).
        shapes_per_scene: inclusive range of the number of moving squares per scene.
        shape_size_range: inclusive range of the squares' side (px).
        shape_speed: maximum speed of the squares per axis (px per frame).
        extra_x264_params: extra ``key=value`` pairs appended to ``x264-params``.
    """

    name: str = "scene_cuts"
    num_classes: int = 4
    width: int = 64
    height: int = 64
    fps: int = 25
    min_frames: int = 40
    max_frames: int = 60
    min_scene_frames: int = 8
    bitrate: int = 32_000
    bitrate_jitter: float = 0.1
    vbv_init_range: tuple[float, float] = (0.5, 0.9)
    qpmin: int = 40
    preset: str = "veryfast"
    scenecut: int = 60
    keyint: int = 250
    block_size_range: tuple[int, int] = (2, 6)
    texture_mix_range: tuple[float, float] = (0.7, 1.0)
    shapes_per_scene: tuple[int, int] = (1, 3)
    shape_size_range: tuple[int, int] = (8, 19)
    shape_speed: float = 3.0
    extra_x264_params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.bitrate_jitter < 1.0:
            raise ValueError("bitrate_jitter must be in [0, 1)")
        if not 0.0 < min(self.vbv_init_range) <= max(self.vbv_init_range) <= 1.0:
            raise ValueError("vbv_init_range must lie in (0, 1]")
        if self.name != "scene_cuts":
            raise ValueError(f"unknown synthetic task {self.name!r}; available: 'scene_cuts'")
        if self.num_classes < 2:
            raise ValueError("num_classes must be >= 2")
        if not 1 <= self.min_frames <= self.max_frames:
            raise ValueError("need 1 <= min_frames <= max_frames")
        if self.num_classes * self.min_scene_frames > self.min_frames:
            raise ValueError(
                f"{self.num_classes} classes need up to {self.num_classes} scenes of >= "
                f"{self.min_scene_frames} frames, but min_frames={self.min_frames}"
            )
        if self.width % 2 or self.height % 2:
            raise ValueError("width and height must be even (yuv420p)")
        if self.keyint <= self.max_frames:
            raise ValueError("keyint must exceed max_frames, or periodic keyframes appear")
        if max(self.shape_size_range) >= min(self.width, self.height):
            raise ValueError("shapes must be smaller than the frame")
        self.vbv_init_range = tuple(self.vbv_init_range)
        self.block_size_range = tuple(self.block_size_range)
        self.texture_mix_range = tuple(self.texture_mix_range)
        self.shapes_per_scene = tuple(self.shapes_per_scene)
        self.shape_size_range = tuple(self.shape_size_range)

    # ------------------------------------------------------------------ labels
    @property
    def class_names(self) -> list[str]:
        """Folder-safe class names, in label order (they also sort in label order)."""
        digits = len(str(self.num_classes - 1))
        names = []
        for k in range(self.num_classes):
            word = _NUMBER_WORDS[k] if k < len(_NUMBER_WORDS) else str(k)
            names.append(f"{k:0{digits}d}_{word}_cut" + ("" if k == 1 else "s"))
        return names

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.class_names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.class_names)}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    # ------------------------------------------------------------------ encoder
    def x264_params(self, bitrate: int | None = None, vbv_init: float | None = None) -> str:
        """The ``x264-params`` string for a clip encoded at ``bitrate`` bits/s with an
        initial VBV buffer fullness ``vbv_init`` (defaults: nominal bitrate, x264's 0.9)."""
        kbps = max(1, int(round((self.bitrate if bitrate is None else bitrate) / 1000)))
        params: dict[str, Any] = {
            "scenecut": self.scenecut,
            "min-keyint": 1,  # every detected cut becomes an IDR, however close to the last
            "keyint": self.keyint,
            "bframes": 0,
            "threads": 1,  # deterministic and cheap; parallelism is across clips
            "nal-hrd": "cbr",
            "vbv-maxrate": kbps,
            "vbv-bufsize": kbps,
            "filler": 1,
            "vbv-init": round(0.9 if vbv_init is None else float(vbv_init), 4),
            "qpmin": self.qpmin,
        }
        params.update(self.extra_x264_params)
        return ":".join(f"{k}={v}" for k, v in params.items())

    # ------------------------------------------------------------------ frames
    def _rng(self, label: int, seed: int) -> np.random.Generator:
        return np.random.default_rng([int(seed), int(label), 0x5C])

    def render(self, label: int, seed: int) -> tuple[np.ndarray, list[int]]:
        """RGB frames ``uint8[T, H, W, 3]`` of one clip and the frame indices of its cuts
        (a cut at ``t`` means frame ``t`` starts a new scene)."""
        frames, cuts, _ = self._clip(label, seed)
        return frames, cuts

    def _clip(self, label: int, seed: int) -> tuple[np.ndarray, list[int], dict[str, Any]]:
        label = int(label)
        if not 0 <= label < self.num_classes:
            raise ValueError(f"label must be in [0, {self.num_classes}), got {label}")
        rng = self._rng(label, seed)
        # Duration, bitrate and initial buffer fullness are drawn independently of the
        # label; under strict CBR they alone set the file size.
        n = int(rng.integers(self.min_frames, self.max_frames + 1))
        jitter = rng.uniform(-1.0, 1.0) * self.bitrate_jitter
        encoding = {
            "bitrate": int(round(self.bitrate * (1.0 + jitter) / 1000)) * 1000,
            "vbv_init": float(rng.uniform(*self.vbv_init_range)),
        }
        cuts = _sample_cuts(rng, n, label, self.min_scene_frames)
        bounds = [0, *cuts, n]
        frames = np.empty((n, self.height, self.width, 3), np.uint8)
        for a, b in zip(bounds[:-1], bounds[1:]):
            self._render_scene(rng, frames[a:b])
        return frames, cuts, encoding

    def _render_scene(self, rng: np.random.Generator, out: np.ndarray) -> None:
        h, w = self.height, self.width
        bs = int(rng.integers(self.block_size_range[0], self.block_size_range[1] + 1))
        blocks = rng.integers(0, 256, (h // bs + 1, w // bs + 1, 3)).astype(np.float32)
        mosaic = np.repeat(np.repeat(blocks, bs, axis=0), bs, axis=1)[:h, :w]
        base = rng.integers(0, 256, 3).astype(np.float32)
        mix = rng.uniform(*self.texture_mix_range)
        background = np.clip(mix * mosaic + (1.0 - mix) * base, 0, 255).astype(np.uint8)

        shapes = []
        for _ in range(int(rng.integers(self.shapes_per_scene[0], self.shapes_per_scene[1] + 1))):
            s = int(rng.integers(self.shape_size_range[0], self.shape_size_range[1] + 1))
            shapes.append(
                {
                    "s": s,
                    "pos": rng.uniform([0, 0], [h - s, w - s]),
                    "vel": rng.uniform(-self.shape_speed, self.shape_speed, 2),
                    "color": rng.integers(0, 256, 3).astype(np.uint8),
                }
            )
        for t in range(out.shape[0]):
            out[t] = background
            for sh in shapes:
                s = sh["s"]
                y, x = (int(v) for v in sh["pos"])
                out[t, y : y + s, x : x + s] = sh["color"]
                pos, vel = sh["pos"] + sh["vel"], sh["vel"]
                hi = np.array([h - s, w - s], dtype=np.float64)
                bounce = (pos < 0) | (pos > hi)
                vel[bounce] *= -1
                sh["pos"] = np.clip(pos, 0, hi)

    # ------------------------------------------------------------------ encoding
    def encode(
        self, frames: np.ndarray, bitrate: int | None = None, vbv_init: float | None = None
    ) -> bytes:
        """Encode RGB frames ``uint8[T, H, W, 3]`` to an H.264 mp4 with this task's
        settings, at ``bitrate`` bits/s (default: ``self.bitrate``, no jitter) and initial
        VBV fullness ``vbv_init`` (default 0.9)."""
        bitrate = int(self.bitrate if bitrate is None else bitrate)
        import av

        buf = io.BytesIO()
        with quiet_ffmpeg_logs():
            with av.open(buf, mode="w", format="mp4") as container:
                stream = container.add_stream("libx264", rate=self.fps)
                stream.width = frames.shape[2]
                stream.height = frames.shape[1]
                stream.pix_fmt = "yuv420p"
                stream.bit_rate = bitrate
                stream.options = {"preset": self.preset, "x264-params": self.x264_params(bitrate, vbv_init)}
                for rgb in frames:
                    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                    for packet in stream.encode(frame):
                        container.mux(packet)
                for packet in stream.encode():
                    container.mux(packet)
        return buf.getvalue()

    def generate_clip(self, label: int, seed: int) -> bytes:
        """One mp4 clip (bytes) with ``label`` scene cuts; deterministic in (label, seed)."""
        frames, _, encoding = self._clip(label, seed)
        return self.encode(frames, **encoding)

    # ------------------------------------------------------------------ datasets
    def clip_plan(self, num_videos: int, seed: int = 0) -> list[tuple[int, int]]:
        """``(label, clip_seed)`` for each of ``num_videos`` clips: labels cycle
        ``0, 1, ..., num_classes-1, 0, ...`` (balanced), clip seeds are derived from
        ``(seed, index)`` so different ``seed`` values give independent sets."""
        states = np.random.SeedSequence([int(seed), 0xB17E]).spawn(int(num_videos))
        return [
            (i % self.num_classes, int(s.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)))
            for i, s in enumerate(states)
        ]

    def generate(
        self, num_videos: int, seed: int = 0, num_proc: int = 1, progress: bool = True
    ) -> list[dict[str, Any]]:
        """Generate ``num_videos`` clips with balanced labels.

        Returns ``[{"video": bytes, "label": int, "seed": int}, ...]`` in plan order
        (labels cycle through the classes); ``seed`` there is the clip seed, so
        ``generate_clip(row["label"], row["seed"], **task.to_dict())`` reproduces a row.
        """
        plan = self.clip_plan(num_videos, seed)
        videos = list(_run(self, plan, num_proc, progress, desc=f"{self.name} clips"))
        return [
            {"video": video, "label": label, "seed": clip_seed}
            for (label, clip_seed), video in zip(plan, videos)
        ]

    def write_folder(
        self,
        root: str | os.PathLike,
        num_videos: int,
        seed: int = 0,
        num_proc: int = 1,
        progress: bool = True,
    ) -> list[tuple[Path, int]]:
        """Write ``root/<class_name>/<idx>.mp4`` (``idx`` zero-padded, unique across classes)
        and return ``[(path, label), ...]``. Class folders are created even when empty."""
        root = Path(root)
        for name in self.class_names:
            (root / name).mkdir(parents=True, exist_ok=True)
        width = max(5, len(str(max(0, num_videos - 1))))
        written = []
        for idx, row in enumerate(self.generate(num_videos, seed, num_proc, progress)):
            path = root / self.class_names[row["label"]] / f"{idx:0{width}d}.mp4"
            path.write_bytes(row["video"])
            written.append((path, row["label"]))
        return written


def _sample_cuts(rng: np.random.Generator, n: int, k: int, min_len: int) -> list[int]:
    """k cut positions in (0, n) with every scene >= min_len frames, uniform over all such
    configurations (stars and bars)."""
    if k == 0:
        return []
    slack = n - (k + 1) * min_len
    if slack < 0:
        raise ValueError(f"cannot fit {k + 1} scenes of {min_len} frames in {n} frames")
    # k+1 scene lengths = min_len + extra, extras >= 0 summing to slack.
    bars = np.sort(rng.choice(slack + k, size=k, replace=False))
    extras = np.diff(np.concatenate([[-1], bars, [slack + k]])) - 1
    lengths = extras + min_len
    return [int(c) for c in np.cumsum(lengths)[:-1]]


def _clip_worker(args: tuple[SyntheticVideoTask, int, int]) -> bytes:
    task, label, clip_seed = args
    return task.generate_clip(label, clip_seed)


def _run(task: SyntheticVideoTask, plan, num_proc: int, progress: bool, desc: str):
    jobs = [(task, label, clip_seed) for label, clip_seed in plan]
    return map_in_processes(_clip_worker, jobs, num_proc, progress=progress, desc=desc)


def generate_clip(label: int, seed: int, **settings: Any) -> bytes:
    """One synthetic mp4 clip as bytes: ``label`` hard scene cuts, deterministic under
    ``seed``. ``settings`` are ``SyntheticVideoTask`` fields (e.g. ``width=96``)."""
    return SyntheticVideoTask(**settings).generate_clip(label, seed)


def render_clip(label: int, seed: int, **settings: Any) -> tuple[np.ndarray, list[int]]:
    """The RGB frames and true cut positions that ``generate_clip`` encodes."""
    return SyntheticVideoTask(**settings).render(label, seed)


def count_hard_cuts(frames: np.ndarray, changed_fraction: float = 0.65, tol: int = 24) -> int:
    """Count hard cuts in decoded frames ``uint8[T, H, W, C]``: transitions where more than
    ``changed_fraction`` of the pixels change by more than ``tol`` in some channel. Moving
    squares change at most a few percent of the pixels; a cut changes nearly all of them."""
    f = frames.astype(np.int16)
    changed = (np.abs(np.diff(f, axis=0)) > tol).any(axis=-1).mean(axis=(1, 2))
    return int((changed > changed_fraction).sum())
