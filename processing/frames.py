"""Decoded RGB frames as reconstruction targets (RGB-reconstruction pre-training, paper Table 10).

* :func:`sample_frames` — decode a video with PyAV and return ``num_frames`` evenly spaced frames, ``(T, 3, size,
  size)`` float in [0, 1].
* :class:`RGBReconstructionCollator` — rows ``{"video": bytes}`` → ``input_ids`` / ``attention_mask`` (the encoded
  bytes, through :class:`~bytevid_hf.processing.BytesVideoProcessor`) and ``pixel_values`` (the decoded frames), the
  inputs of ``BytesVideoForRGBReconstruction``; ``Trainer`` trains on encoded videos directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np
import torch

from .deadline import DEFAULT_DECODE_TIMEOUT, Deadline, check_timeout
from .decode import open_video
from .frame_size import short_side_size
from .io import decoded_input_name, read_video_bytes

__all__ = ["sample_frames", "frame_indices", "RGBReconstructionCollator"]


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def frame_indices(num_decoded: int, num_frames: int) -> list[int]:
    """Which of ``num_decoded`` frames :func:`sample_frames` keeps: ``round(linspace(0, n - 1, num_frames))`` (first
    and last frame included, evenly spaced) when ``n >= num_frames``; otherwise every frame, then the last one
    repeated up to ``num_frames``."""
    if num_decoded < 1:
        raise ValueError(f"num_decoded must be >= 1, got {num_decoded}")
    if num_decoded < num_frames:
        return list(range(num_decoded)) + [num_decoded - 1] * (num_frames - num_decoded)
    return np.rint(np.linspace(0, num_decoded - 1, num_frames)).astype(int).tolist()


def sample_frames(
    video: Any,
    num_frames: int = 10,
    size: int = 128,
    max_seconds: Real | None = None,
    name: str | None = None,
    timeout: Real | None = DEFAULT_DECODE_TIMEOUT,
) -> torch.FloatTensor:
    """Decode ``video`` and return ``num_frames`` evenly spaced RGB frames as a ``(T, 3, size, size)`` float tensor
    in [0, 1].

    Steps: decode the first video stream (:mod:`.decode`; up to ``max_seconds`` seconds from its first frame, if
    given); resize each frame so its *shorter* side is ``size`` (aspect ratio kept, the longer side rounded half up:
    :func:`~.frame_size.short_side_size`; converted to RGB at the source size, then scaled with
    FFmpeg's area-averaging scaler) and take the centred ``size`` × ``size`` crop (a shorter-side resize and centre
    crop, not a plain resize: nothing is stretched, the longer side loses its ends); keep the frames
    :func:`frame_indices` picks — first and last included, evenly spaced in decoding (presentation) order; a clip
    with fewer than ``num_frames`` frames gives all of them followed by its last frame repeated.

    Every decoded frame is kept until the end, resized (``size``² × 3 bytes each, not the source resolution), so
    memory grows with the clip length; ``max_seconds`` bounds it for long videos.

    Args:
        video: anything :func:`~bytevid_hf.processing.read_video_bytes` accepts (path, bytes, binary file object,
            uint8 array/tensor of encoded bytes).
        num_frames: T, number of frames returned.
        size: height and width of the returned frames.
        max_seconds: only sample from the first ``max_seconds`` seconds (``None`` = the whole clip).
        name: label for the input in error messages (default: the path, or ``"<bytes of length N>"``).
        timeout: wall-clock deadline in seconds for decoding (default 600 s; ``None`` = none).

    Raises:
        InvalidVideoError: the input cannot be decoded (not a video, truncated or corrupted, no video stream, no
            decodable frame); the message names the input, the PyAV error is chained as ``__cause__``.
        VideoDecodeTimeoutError: decoding ran past ``timeout`` seconds.
        ValueError: bad settings.
        plus the exceptions of :func:`~bytevid_hf.processing.read_video_bytes` for unreadable inputs.
    """
    _check_positive_int("num_frames", num_frames)
    _check_positive_int("size", size)
    if max_seconds is not None and (
        isinstance(max_seconds, bool) or not isinstance(max_seconds, Real) or not max_seconds > 0
    ):
        raise ValueError(f"max_seconds must be a positive number or None, got {max_seconds!r}")
    timeout = check_timeout(timeout, "timeout")
    data = read_video_bytes(video, name=name)
    desc = decoded_input_name(video, data, name)
    deadline = Deadline(timeout, desc, action="decoding")
    with open_video(data, operation="sample frames from", desc=desc, deadline=deadline,
                    max_seconds=max_seconds) as decoder:
        frames = [_resized_crop(frame, int(size)) for frame, _, _ in decoder]  # each (size, size, 3) uint8
    picked = np.stack([frames[i] for i in frame_indices(len(frames), int(num_frames))])  # (T, S, S, 3) uint8
    return torch.from_numpy(picked).permute(0, 3, 1, 2).float().div_(255.0)


def _resized_crop(frame: Any, size: int) -> np.ndarray:
    """The centred ``size``² crop of ``frame`` resized so that its shorter side is ``size``: (size, size, 3) uint8."""
    width, height = short_side_size(frame.width, frame.height, size)  # the package's one rule, multiple=1
    # YUV -> RGB at the source size first, then scale in RGB: scaling the YUV planes directly lets FFmpeg's
    # subsampled chroma bleed across edges (colour fringes up to ~2 output pixels wide).
    rgb = frame.reformat(format="rgb24", threads=1)
    if (width, height) != (frame.width, frame.height):
        rgb = rgb.reformat(width=width, height=height, interpolation="AREA", threads=1)
    array = rgb.to_ndarray()  # (height, width, 3)
    top, left = (height - size) // 2, (width - size) // 2
    return np.ascontiguousarray(array[top : top + size, left : left + size])


@dataclass
class RGBReconstructionCollator:
    """Batch rows of encoded videos for ``BytesVideoForRGBReconstruction``.

    Each row holds a video under ``video_column`` (bytes, a path, or anything the processor reads). Returns
    ``input_ids`` (uint8 [B, L]) and ``attention_mask`` from ``processor`` (default: a plain
    :class:`~bytevid_hf.processing.BytesVideoProcessor`, i.e. the file's own bytes, right-padded) and
    ``pixel_values`` (float [B, num_frames, 3, size, size] in [0, 1]) from :func:`sample_frames` on the same video.
    ``num_frames`` / ``size`` must equal the model's ``config.reconstruction_frames`` / ``reconstruction_size``.

    The targets are decoded from the row's video as given, so with a transcoding processor they are the frames of the
    original, and with ``max_length`` truncation they still cover the whole clip (up to ``max_seconds``).
    With ``Trainer`` set ``remove_unused_columns=False`` so the video column reaches the collator.
    """

    processor: Any = None
    num_frames: int = 10
    size: int = 128
    video_column: str = "video"
    max_seconds: Real | None = None
    max_length: int | None = None
    processor_kwargs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_positive_int("num_frames", self.num_frames)
        _check_positive_int("size", self.size)
        if self.processor is None:
            from .video_processor import BytesVideoProcessor

            self.processor = BytesVideoProcessor()

    @classmethod
    def from_config(cls, config: Any, processor: Any = None, **kwargs: Any) -> RGBReconstructionCollator:
        """A collator whose frames match ``config.reconstruction_frames`` / ``config.reconstruction_size``."""
        return cls(processor=processor, num_frames=config.reconstruction_frames, size=config.reconstruction_size,
                   **kwargs)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("RGBReconstructionCollator got an empty batch")
        missing = [i for i, row in enumerate(rows) if self.video_column not in row]
        if missing:
            raise KeyError(
                f"rows {missing} have no {self.video_column!r} column (keys: {sorted(rows[missing[0]])}); "
                "with Trainer, set remove_unused_columns=False so the video column reaches the collator"
            )
        videos = [row[self.video_column] for row in rows]
        kwargs = dict(self.processor_kwargs)
        if self.max_length is not None:
            kwargs.setdefault("max_length", self.max_length)
            kwargs.setdefault("truncation", True)
        batch = dict(self.processor(videos, return_tensors="pt", **kwargs))
        batch["pixel_values"] = torch.stack(
            [sample_frames(v, num_frames=self.num_frames, size=self.size, max_seconds=self.max_seconds) for v in videos]
        )
        return batch
