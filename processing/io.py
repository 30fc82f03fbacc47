"""Read a video's *encoded* bytes (e.g. an mp4 file) into a 1-D ``uint8`` numpy array.

The byte models never decode frames: their input is the container file itself, one token per
byte. :func:`read_video_bytes` is therefore deliberately permissive about *content* — any
non-empty byte string is a valid input, whether or not it is a well-formed video — and strict
about *types*, so that a wrong argument fails loudly instead of being silently tokenised.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

__all__ = ["read_video_bytes", "describe_video", "ACCEPTED_VIDEO_TYPES"]

#: Human-readable list of what :func:`read_video_bytes` accepts (used in error messages).
ACCEPTED_VIDEO_TYPES = (
    "a path (str or os.PathLike), bytes, bytearray, memoryview, a binary file object "
    "(with .read()), a 1-D uint8 numpy array, or a 1-D uint8 torch tensor"
)


def _torch_module():
    """Return the ``torch`` module if it is already imported, else ``None``.

    An object can only be a ``torch.Tensor`` if torch has been imported, so this avoids importing
    torch just to check types.
    """
    return sys.modules.get("torch")


def _is_tensor(obj: Any) -> bool:
    torch = _torch_module()
    return torch is not None and isinstance(obj, torch.Tensor)


def _is_path(obj: Any) -> bool:
    return isinstance(obj, (str, os.PathLike))


def describe_video(video: Any, name: str | None = None) -> str:
    """A short, human-readable description of a video input for error messages.

    ``name`` wins when given; otherwise a path is shown as its string, a file object by its
    ``.name`` when it has one, and in-memory inputs by their type and length
    (e.g. ``"<bytes of length 1234>"``).
    """
    if name is not None:
        return str(name)
    if _is_path(video):
        path = os.fspath(video)
        path = path.decode(errors="backslashreplace") if isinstance(path, bytes) else path
        # A str that is really file *content* would flood the message: keep both ends.
        return path if len(path) <= 300 else f"{path[:200]}...{path[-80:]} (path of length {len(path)})"
    if isinstance(video, (bytes, bytearray)):
        return f"<{type(video).__name__} of length {len(video)}>"
    if isinstance(video, memoryview):
        return f"<memoryview of length {video.nbytes}>"
    if isinstance(video, np.ndarray):
        return f"<numpy array of shape {tuple(video.shape)} and dtype {video.dtype}>"
    if _is_tensor(video):
        return f"<torch tensor of shape {tuple(video.shape)} and dtype {video.dtype}>"
    if hasattr(video, "read"):
        file_name = getattr(video, "name", None)
        if isinstance(file_name, (str, bytes, os.PathLike)):
            return f"<file object {os.fsdecode(file_name)!r}>"
        return f"<file object of type {type(video).__name__}>"
    return f"<object of type {type(video).__name__}>"


def _check_max_bytes(max_bytes: int | None) -> None:
    if max_bytes is None:
        return
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes <= 0:
        raise ValueError(f"max_bytes must be a positive int or None, got {max_bytes!r}")


def _too_large(desc: str, size: int | str, max_bytes: int) -> ValueError:
    return ValueError(
        f"Video {desc} is {size} bytes, which exceeds the limit of max_bytes={max_bytes} bytes"
    )


def _bounded_too_large(desc: str, max_bytes: int) -> ValueError:
    """For streams whose total size is unknown: only ``max_bytes + 1`` bytes were read."""
    return ValueError(
        f"Video {desc} is larger than the limit of max_bytes={max_bytes} bytes "
        f"(stopped reading after {max_bytes + 1} bytes)"
    )


def _finish(arr: np.ndarray, desc: str, max_bytes: int | None) -> np.ndarray:
    """Shared checks on the final array: non-empty and within ``max_bytes``."""
    if arr.size == 0:
        raise ValueError(f"Video {desc} is empty (0 bytes); a video must contain at least one byte")
    if max_bytes is not None and arr.size > max_bytes:
        raise _too_large(desc, arr.size, max_bytes)
    return arr


def _read_path(video: str | os.PathLike, desc: str, max_bytes: int | None) -> np.ndarray:
    path = os.fspath(video)
    if "\0" in (path if isinstance(path, str) else path.decode(errors="replace")):
        raise ValueError(
            f"Video path {desc!r} contains a NUL character, so it cannot be a file path; "
            "pass video content as bytes, not str"
        )
    try:
        with open(path, "rb") as f:
            # Fail fast on oversized regular files without reading them.
            st_size = os.fstat(f.fileno()).st_size
            if max_bytes is not None and st_size > max_bytes:
                raise _too_large(desc, st_size, max_bytes)
            # Read at most max_bytes + 1 so that non-regular files (pipes, devices) cannot
            # exhaust memory either.
            data = f.read() if max_bytes is None else f.read(max_bytes + 1)
            if max_bytes is not None and len(data) > max_bytes:
                raise _bounded_too_large(desc, max_bytes)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"Video file not found: {desc!r}") from e
    except IsADirectoryError as e:
        raise IsADirectoryError(f"Video path {desc!r} is a directory, not a video file") from e
    except PermissionError as e:
        raise PermissionError(f"Permission denied reading video file {desc!r}") from e
    except ValueError:
        raise
    except OSError as e:  # e.g. EIO, ENAMETOOLONG, or a directory on platforms that say EISDIR differently
        if os.path.isdir(path):
            raise IsADirectoryError(f"Video path {desc!r} is a directory, not a video file") from e
        raise ValueError(f"Could not read video file {desc!r}: {e.strerror or e}") from e
    return np.frombuffer(data, dtype=np.uint8)


def _read_file_object(video: Any, desc: str, max_bytes: int | None) -> np.ndarray:
    try:
        data = video.read() if max_bytes is None else video.read(max_bytes + 1)
    except (OSError, ValueError) as e:  # closed file, unreadable stream, ...
        raise ValueError(f"Could not read from video file object {desc}: {e}") from e
    if isinstance(data, str):
        raise TypeError(
            f"Video file object {desc} returned str from .read(); it was opened in text mode. "
            "Open video files in binary mode, e.g. open(path, 'rb')."
        )
    if max_bytes is not None and data is not None and len(data) > max_bytes:
        raise _bounded_too_large(desc, max_bytes)
    if data is None:  # non-blocking raw stream with no data available
        raise ValueError(f"Video file object {desc} returned None from .read() (non-blocking stream?)")
    if isinstance(data, (bytes, bytearray)):
        return np.frombuffer(data, dtype=np.uint8)
    try:
        return _from_memoryview(memoryview(data), desc)
    except TypeError as e:
        raise TypeError(
            f"Video file object {desc} returned {type(data).__name__} from .read(); expected bytes"
        ) from e


def _from_memoryview(view: memoryview, desc: str) -> np.ndarray:
    if not view.c_contiguous:
        raise ValueError(f"Video {desc} is a non-contiguous memoryview; pass a contiguous buffer")
    return np.frombuffer(view.cast("B") if view.ndim != 1 or view.format != "B" else view, dtype=np.uint8)


def _check_byte_array(video: Any, desc: str, dtype_ok: bool, dtype_name: str) -> None:
    """A numpy array or torch tensor of encoded bytes must be 1-D with dtype uint8."""
    if not dtype_ok:
        raise TypeError(f"Video {desc} must have dtype {dtype_name} (the encoded file's bytes), got {video.dtype}")
    if video.ndim != 1:
        raise ValueError(
            f"Video {desc} must be 1-D (the encoded file's bytes), got {video.ndim} dimensions "
            f"with shape {tuple(video.shape)}"
        )


def _from_numpy(video: np.ndarray, desc: str) -> np.ndarray:
    _check_byte_array(video, desc, video.dtype == np.uint8, "uint8")
    return video


def _from_tensor(video: Any, desc: str) -> np.ndarray:
    torch = _torch_module()
    _check_byte_array(video, desc, video.dtype == torch.uint8, "torch.uint8")
    try:
        if video.device.type == "cpu":
            return video.detach().numpy()  # zero-copy view of the tensor's storage
        return video.detach().cpu().numpy()  # one device -> host copy
    except Exception as e:  # e.g. meta tensors, which have no data
        raise ValueError(f"Could not read the bytes of video {desc} on device {video.device}: {e}") from e


def read_video_bytes(
    video: Any,
    *,
    name: str | None = None,
    max_bytes: int | None = None,
) -> np.ndarray:
    """Return the encoded bytes of ``video`` as a 1-D ``numpy.uint8`` array.

    No decoding happens here: the result is the container file exactly as stored (e.g. the
    bytes of an mp4). Because the byte models consume the file itself, **any non-empty byte
    string is valid input by design** — corrupt or non-video files are only rejected later if
    you ask for transcoding (see :func:`~bytevid_hf.processing.transcode_video`).

    Args:
        video: one of

            * a path, ``str`` or ``os.PathLike`` — the file is read once (a ``str`` is always a
              path, never content);
            * ``bytes`` / ``bytearray`` / ``memoryview`` — wrapped with ``np.frombuffer``
              (zero-copy; the result of ``bytes`` input is read-only);
            * a binary file object (anything with ``.read()`` returning bytes) — read from its
              current position to the end;
            * a 1-D ``uint8`` numpy array — returned as-is (zero-copy);
            * a 1-D ``torch.uint8`` tensor — ``.numpy()`` view for CPU tensors (zero-copy), a
              host copy for tensors on other devices.
        name: label for the input in error messages (defaults to the path, the file object's
            name, or a type/length description).
        max_bytes: optional upper limit on the size in bytes; larger inputs raise ``ValueError``
            (paths are checked with ``fstat`` before reading).

    Returns:
        A 1-D ``numpy.ndarray`` of dtype ``uint8`` with at least one element. It may share
        memory with (and may be read-only like) the input.

    Raises:
        FileNotFoundError: the path does not exist.
        IsADirectoryError: the path is a directory.
        PermissionError: the path cannot be read.
        ValueError: the input is empty, exceeds ``max_bytes``, is an array with the wrong number
            of dimensions, or cannot be read for another reason.
        TypeError: the input has an unsupported type or dtype, or is a text-mode file object.
    """
    _check_max_bytes(max_bytes)
    desc = describe_video(video, name)

    if _is_path(video):
        arr = _read_path(video, desc, max_bytes)
    elif isinstance(video, (bytes, bytearray)):
        arr = np.frombuffer(video, dtype=np.uint8)
    elif isinstance(video, memoryview):
        arr = _from_memoryview(video, desc)
    elif isinstance(video, np.ndarray):
        arr = _from_numpy(video, desc)
    elif _is_tensor(video):
        arr = _from_tensor(video, desc)
    elif hasattr(video, "read") and callable(video.read):
        arr = _read_file_object(video, desc, max_bytes)
    else:
        raise TypeError(
            f"Unsupported video input {desc}: expected {ACCEPTED_VIDEO_TYPES}, "
            f"got {type(video).__module__}.{type(video).__qualname__}"
        )
    return _finish(arr, desc, max_bytes)
