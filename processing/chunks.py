"""Read a video's encoded bytes as a stream of fixed-size chunks, for constant-memory streaming inference."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .io import ACCEPTED_VIDEO_TYPES, describe_video, read_video_bytes


def total_length(source: Any) -> int | None:
    """Number of bytes of ``source`` when known without reading it (paths, in-memory buffers), else ``None``."""
    if isinstance(source, (str, os.PathLike)):
        try:
            return os.stat(source).st_size
        except OSError:
            return None
    if isinstance(source, (bytes, bytearray, memoryview, np.ndarray)):
        return len(source) if not isinstance(source, np.ndarray) else int(source.size)
    if hasattr(source, "numel") and hasattr(source, "dtype"):
        return int(source.numel())
    return None


def iter_byte_chunks(
    source: Any, chunk_size: int, *, name: str | None = None, max_bytes: int | None = None
) -> Iterator[np.ndarray]:
    """Yield 1-D uint8 arrays of at most ``chunk_size`` bytes, in order.

    ``source`` is a path (read ``chunk_size`` at a time, never whole), ``bytes``/``bytearray``/``memoryview``, a uint8
    numpy array or torch tensor (sliced without copying), a binary file object (read incrementally), or an iterable of
    any of those in-memory chunk types (re-cut to ``chunk_size``). ``max_bytes`` bounds the total. Errors name the
    input and the reason, as :func:`read_video_bytes` does.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    desc = describe_video(source, name)
    if isinstance(source, (str, os.PathLike)):
        yield from _limit(_iter_path(source, chunk_size, desc), desc, max_bytes)
    elif isinstance(source, (bytes, bytearray, memoryview, np.ndarray)) or total_length(source) is not None:
        data = read_video_bytes(source, name=desc, max_bytes=max_bytes)
        for start in range(0, data.size, chunk_size):
            yield data[start : start + chunk_size]
    elif hasattr(source, "read") and callable(source.read):
        yield from _limit(_iter_file_object(source, chunk_size, desc), desc, max_bytes)
    elif isinstance(source, Iterable):
        yield from _limit(_iter_pieces(source, chunk_size, desc), desc, max_bytes)
    else:
        raise TypeError(
            f"Unsupported video source {desc}: expected {ACCEPTED_VIDEO_TYPES}, or an iterable of uint8 chunks; "
            f"got {type(source).__module__}.{type(source).__qualname__}"
        )


def _iter_path(path, chunk_size: int, desc: str) -> Iterator[np.ndarray]:
    if not os.path.exists(path):
        raise FileNotFoundError(f"video {desc!r} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"video {desc!r} is a directory, not a file")
    with open(path, "rb") as f:
        yield from _iter_file_object(f, chunk_size, desc)


def _iter_file_object(f, chunk_size: int, desc: str) -> Iterator[np.ndarray]:
    while True:
        piece = f.read(chunk_size)
        if isinstance(piece, str):
            raise TypeError(f"video {desc} is a text-mode file object; open it in binary mode ('rb')")
        if not piece:
            return
        yield np.frombuffer(piece, dtype=np.uint8)


def _iter_pieces(pieces: Iterable, chunk_size: int, desc: str) -> Iterator[np.ndarray]:
    for index, piece in enumerate(pieces):
        if isinstance(piece, (str, os.PathLike)):
            raise TypeError(f"chunk {index} of video {desc} is a path/str; chunks must be bytes or uint8 arrays")
        if isinstance(piece, (bytes, bytearray)) and len(piece) == 0:
            continue
        data = read_video_bytes(piece, name=f"chunk {index} of {desc}")
        for start in range(0, data.size, chunk_size):
            yield data[start : start + chunk_size]


def _limit(chunks: Iterator[np.ndarray], desc: str, max_bytes: int | None) -> Iterator[np.ndarray]:
    seen = 0
    for chunk in chunks:
        seen += chunk.size
        if max_bytes is not None and seen > max_bytes:
            raise ValueError(f"video {desc} is larger than max_bytes={max_bytes} (read {seen} bytes so far)")
        yield chunk


__all__ = ["iter_byte_chunks", "total_length"]
