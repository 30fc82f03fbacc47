"""Byte-level video preprocessing: read encoded bytes, optionally transcode, batch for the model.

Public API:

* :class:`BytesVideoProcessor` — Hugging Face video processor producing ``input_ids`` /
  ``attention_mask`` from encoded video bytes (no frame decoding).
* :func:`read_video_bytes` — any supported input -> 1-D ``uint8`` numpy array of the file's bytes.
* :func:`transcode_video` — re-encode a video into a canonical format (PyAV, in memory).
* :data:`CANONICAL_SETTINGS` — the paper's format (H.264 mp4, 384 px, 200 kbps, 25 fps, no audio).
* :class:`~bytevid_hf.processing.augment.VideoAugmenter` — RGB-space augmentation re-encoded to bytes.
* :func:`encode_jpeg` / :func:`video_to_jpeg_bytes` — JPEG-bytes inputs (``BytesVideoProcessor(input_format="jpeg")``).
* :func:`sample_frames` / :class:`RGBReconstructionCollator` — RGB targets for reconstruction pre-training.
* :class:`VideoInputError` and its subclasses (:mod:`.errors`) — what a bad input raises.

Everything that decodes frames (transcoding, augmentation, JPEG mode, RGB targets) goes through one
path: :mod:`.decode` (open, demux, decode; one error mapping, one deadline), :mod:`.frame_rate`
(one constant-frame-rate resampler) and :mod:`.frame_size` (one short-side size rule).
"""

from .augment import VideoAugmenter, byte_difference
from .errors import (
    InvalidVideoError,
    VideoDecodeTimeoutError,
    VideoInputError,
    VideoIsADirectoryError,
    VideoNotFoundError,
    VideoPermissionError,
    VideoReadError,
    VideoTooLargeError,
)
from .frames import RGBReconstructionCollator, sample_frames
from .io import read_video_bytes
from .jpeg import encode_jpeg, frames_to_jpeg_bytes, split_jpeg_stream, video_to_jpeg_bytes
from .processing_qa import BytesVideoQAProcessor, add_video_token
from .transcode import CANONICAL_SETTINGS, transcode_video
from .video_processor import BytesVideoProcessor

__all__ = [
    "BytesVideoProcessor",
    "read_video_bytes",
    "transcode_video",
    "CANONICAL_SETTINGS",
    "VideoAugmenter",
    "byte_difference",
    "encode_jpeg",
    "frames_to_jpeg_bytes",
    "split_jpeg_stream",
    "video_to_jpeg_bytes",
    "sample_frames",
    "RGBReconstructionCollator",
    "BytesVideoQAProcessor",
    "add_video_token",
    "VideoInputError",
    "VideoReadError",
    "VideoNotFoundError",
    "VideoIsADirectoryError",
    "VideoPermissionError",
    "VideoTooLargeError",
    "InvalidVideoError",
    "VideoDecodeTimeoutError",
]
