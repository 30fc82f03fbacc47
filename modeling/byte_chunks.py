"""Read a video's encoded bytes as a stream of fixed-size chunks, for ``model.stream()`` (constant memory).

Self-contained (the model code imports only its own folder): paths and file objects are read ``chunk_size`` bytes at
a time and never held whole; in-memory sources are sliced without copying. Errors name the source and the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch

SOURCE_TYPES = "a path, bytes, a binary file object, a 1-D uint8 numpy array or torch tensor"


def describe_source(source: Any) -> str:
    """A short name for error messages: the path, or the type and size of an in-memory source."""
    if isinstance(source, (str, os.PathLike)):
        return repr(os.fspath(source))
    length = total_length(source)
    kind = f"{type(source).__module__}.{type(source).__qualname__}".removeprefix("builtins.")
    return f"<{kind}{'' if length is None else f' of {length} bytes'}>"


def total_length(source: Any) -> int | None:
    """Number of bytes of ``source`` when known without reading it (paths, in-memory buffers), else ``None``."""
    if isinstance(source, (str, os.PathLike)):
        try:
            return os.stat(source).st_size
        except (OSError, ValueError):
            return None
    if isinstance(source, (bytes, bytearray)):
        return len(source)
    if isinstance(source, memoryview):
        return source.nbytes
    if isinstance(source, (np.ndarray, torch.Tensor)):
        return int(source.numel() if isinstance(source, torch.Tensor) else source.size)
    return None


def _as_uint8_array(piece: Any, desc: str) -> np.ndarray:
    """An in-memory chunk as a 1-D uint8 numpy array (no copy where possible)."""
    if isinstance(piece, (bytes, bytearray, memoryview)):
        return np.frombuffer(piece, dtype=np.uint8)
    if isinstance(piece, torch.Tensor):
        piece = piece.detach().cpu().numpy()
    if isinstance(piece, np.ndarray):
        if piece.dtype != np.uint8 or piece.ndim != 1:
            raise TypeError(f"video {desc} must be a 1-D uint8 array of encoded bytes, got {piece.dtype} of shape "
                            f"{piece.shape}")
        return piece
    raise TypeError(f"Unsupported video source {desc}: expected {SOURCE_TYPES}, or an iterable of uint8 chunks")


def iter_byte_chunks(source: Any, chunk_size: int, *, max_bytes: int | None = None) -> Iterator[np.ndarray]:
    """Yield 1-D uint8 arrays of at most ``chunk_size`` bytes, in order.

    ``source`` is a path (read ``chunk_size`` at a time), ``bytes``/``bytearray``/``memoryview``, a uint8 numpy array or
    torch tensor (sliced without copying), a binary file object (read incrementally), or an iterable of in-memory
    chunks (re-cut to ``chunk_size``). ``max_bytes`` bounds the total (``ValueError`` beyond it).
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    desc = describe_source(source)
    if isinstance(source, (str, os.PathLike)):
        chunks = _iter_path(source, chunk_size, desc)
    elif isinstance(source, (bytes, bytearray, memoryview, np.ndarray, torch.Tensor)):
        chunks = _recut([_as_uint8_array(source, desc)], chunk_size)
    elif callable(getattr(source, "read", None)):
        chunks = _iter_file_object(source, chunk_size, desc)
    elif isinstance(source, Iterable):
        chunks = _recut(
            (_as_uint8_array(piece, f"chunk {i} of {desc}") for i, piece in enumerate(source)), chunk_size
        )
    else:
        raise TypeError(f"Unsupported video source {desc}: expected {SOURCE_TYPES}, or an iterable of uint8 chunks")
    seen = 0
    for chunk in chunks:
        seen += chunk.size
        if max_bytes is not None and seen > max_bytes:
            raise ValueError(f"video {desc} is larger than max_bytes={max_bytes} (read {seen} bytes so far)")
        yield chunk


def _iter_path(path, chunk_size: int, desc: str) -> Iterator[np.ndarray]:
    if not os.path.exists(path):
        raise FileNotFoundError(f"video {desc} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"video {desc} is a directory, not a file")
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


def _recut(pieces: Iterable[np.ndarray], chunk_size: int) -> Iterator[np.ndarray]:
    for data in pieces:
        for start in range(0, data.size, chunk_size):
            yield data[start : start + chunk_size]


__all__ = ["describe_source", "iter_byte_chunks", "total_length"]
