"""Read a video's *encoded* bytes (e.g. an mp4 file) into a 1-D ``uint8`` numpy array.

The byte models never decode frames: their input is the container file itself, one token per
byte. :func:`read_video_bytes` is therefore deliberately permissive about *content* — any
non-empty byte string is a valid input, whether or not it is a well-formed video — and strict
about *types*, so that a wrong argument fails loudly instead of being silently tokenised.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import (
    InvalidVideoError,
    VideoInputError,
    VideoIsADirectoryError,
    VideoNotFoundError,
    VideoPermissionError,
    VideoReadError,
    VideoTooLargeError,
)

__all__ = ["read_video_bytes", "describe_video", "ACCEPTED_VIDEO_TYPES"]

#: Human-readable list of what :func:`read_video_bytes` accepts (used in error messages).
ACCEPTED_VIDEO_TYPES = (
    "a path (str or os.PathLike), bytes, bytearray, memoryview, a binary file object "
    "(with .read()), a 1-D uint8 numpy array, a 1-D uint8 torch tensor, or a datasets Video(decode=False) value "
    "({'bytes': ..., 'path': ...})"
)

#: The keys of a ``datasets.Video(decode=False)`` value (what a ``videofolder`` / Parquet ``Video`` column holds).
VIDEO_VALUE_KEYS = ("bytes", "path")


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


def _is_video_value(obj: Any) -> bool:
    """A ``datasets.Video(decode=False)`` value: a mapping with ``bytes`` and/or ``path``."""
    return isinstance(obj, Mapping) and any(key in obj for key in VIDEO_VALUE_KEYS)


def _video_value_path(obj: Any) -> str | None:
    path = obj.get("path")
    return os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else None


def decoded_input_name(video: Any, data: np.ndarray, name: str | None = None) -> str:
    """How decoding code names an input it has read into ``data``: ``name`` when given, a path, named file object or
    ``Video`` value with a path by its name, anything else by its length in bytes (``"<bytes of length N>"``)."""
    if name is not None:
        return str(name)
    is_named = isinstance(video, (str, os.PathLike)) or (
        hasattr(video, "read") and isinstance(getattr(video, "name", None), (str, os.PathLike))
    ) or (_is_video_value(video) and _video_value_path(video) is not None)
    return describe_video(video) if is_named else f"<bytes of length {data.size}>"


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
    if _is_video_value(video):
        path, data = _video_value_path(video), video.get("bytes")
        if path is not None:
            return describe_video(path)
        if isinstance(data, (bytes, bytearray, memoryview)):
            return f"<Video value of {len(memoryview(data).cast('B'))} bytes>"
        return "<Video value without bytes or path>"
    return f"<object of type {type(video).__name__}>"


def _check_max_bytes(max_bytes: int | None) -> None:
    if max_bytes is None:
        return
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes <= 0:
        raise ValueError(f"max_bytes must be a positive int or None, got {max_bytes!r}")


def _too_large(desc: str, size: int | str, max_bytes: int) -> VideoTooLargeError:
    reason = f"it is {size} bytes, which exceeds the limit of max_bytes={max_bytes} bytes"
    return VideoTooLargeError(
        f"Video {desc} is {size} bytes, which exceeds the limit of max_bytes={max_bytes} bytes",
        input_name=desc,
        reason=reason,
    )


def _bounded_too_large(desc: str, max_bytes: int) -> VideoTooLargeError:
    """For streams whose total size is unknown: only ``max_bytes + 1`` bytes were read."""
    reason = f"it is larger than the limit of max_bytes={max_bytes} bytes (stopped reading after {max_bytes + 1} bytes)"
    return VideoTooLargeError(f"Video {desc} is {reason[6:]}", input_name=desc, reason=reason)


def _finish(arr: np.ndarray, desc: str, max_bytes: int | None) -> np.ndarray:
    """Shared checks on the final array: non-empty and within ``max_bytes``."""
    if arr.size == 0:
        raise InvalidVideoError(
            f"Video {desc} is empty (0 bytes); a video must contain at least one byte",
            input_name=desc,
            reason="it is empty (0 bytes)",
        )
    if max_bytes is not None and arr.size > max_bytes:
        raise _too_large(desc, arr.size, max_bytes)
    return arr


def _read_error(cls: type, message: str, desc: str, reason: str) -> VideoReadError:
    return cls(message, input_name=desc, reason=reason)


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def _os_error(e: OSError, path: str, desc: str) -> VideoReadError:
    """The :class:`VideoReadError` subclass and message for an ``OSError`` raised while opening/reading ``path``."""
    if isinstance(e, FileNotFoundError):
        return _read_error(VideoNotFoundError, f"Video file not found: {desc!r}", desc, "the path does not exist")
    if isinstance(e, IsADirectoryError) or (e.errno not in (errno.ELOOP,) and os.path.isdir(path)):
        return _read_error(
            VideoIsADirectoryError,
            f"Video path {desc!r} is a directory, not a video file",
            desc,
            "the path is a directory",
        )
    if isinstance(e, PermissionError):
        return _read_error(
            VideoPermissionError, f"Permission denied reading video file {desc!r}", desc, "permission denied"
        )
    if e.errno == errno.ELOOP:
        reason = "the path is a symbolic link loop (too many levels of symbolic links)"
    else:
        reason = f"{e.strerror or e}"
    return _read_error(VideoReadError, f"Could not read video file {desc!r}: {reason}", desc, reason)


def _read_path(video: str | os.PathLike, desc: str, max_bytes: int | None) -> np.ndarray:
    """Read a regular file, refusing anything that could block (FIFOs, sockets, devices) or exceed ``max_bytes``.

    Non-regular files are refused *before* opening them: opening a FIFO blocks until a writer
    appears, and devices such as ``/dev/zero`` never end. Pass such streams as file objects instead.
    """
    path = os.fspath(video)
    if "\0" in (path if isinstance(path, str) else path.decode(errors="replace")):
        reason = "the path contains a NUL character, so it cannot be a file path; pass video content as bytes, not str"
        raise InvalidVideoError(f"Video path {desc!r}: {reason}", input_name=desc, reason=reason)
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if not stat.S_ISREG(mode):
            kind = _file_kind(mode)
            reason = (
                f"it is {kind}, not a regular file; reading it could block or never end "
                "(pass an open binary file object to read from a stream)"
            )
            raise _read_error(VideoReadError, f"Could not read video file {desc!r}: {reason}", desc, reason)
        with open(path, "rb") as f:
            # Fail fast on oversized regular files without reading them.
            st_size = os.fstat(f.fileno()).st_size
            if max_bytes is not None and st_size > max_bytes:
                raise _too_large(desc, st_size, max_bytes)
            # Read at most max_bytes + 1 so that a file that grows while being read cannot exhaust memory.
            data = f.read() if max_bytes is None else f.read(max_bytes + 1)
            if max_bytes is not None and len(data) > max_bytes:
                raise _bounded_too_large(desc, max_bytes)
    except VideoInputError:
        raise
    except OSError as e:  # not found, directory, permission denied, ELOOP, EIO, ENAMETOOLONG, ...
        raise _os_error(e, path, desc) from e
    return np.frombuffer(data, dtype=np.uint8)


def _read_file_object(video: Any, desc: str, max_bytes: int | None) -> np.ndarray:
    try:
        data = video.read() if max_bytes is None else video.read(max_bytes + 1)
    except (OSError, ValueError) as e:  # closed file, unreadable stream, ...
        raise VideoReadError(
            f"Could not read from video file object {desc}: {e}", input_name=desc, reason=str(e)
        ) from e
    if isinstance(data, str):
        raise TypeError(
            f"Video file object {desc} returned str from .read(); it was opened in text mode. "
            "Open video files in binary mode, e.g. open(path, 'rb')."
        )
    if max_bytes is not None and data is not None and len(data) > max_bytes:
        raise _bounded_too_large(desc, max_bytes)
    if data is None:  # non-blocking raw stream with no data available
        reason = "its .read() returned None (non-blocking stream with no data?)"
        raise VideoReadError(f"Video file object {desc} returned None from .read() (non-blocking stream?)",
                             input_name=desc, reason=reason)
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


def _from_video_value(video: Mapping, desc: str, max_bytes: int | None) -> np.ndarray:
    """A ``datasets.Video(decode=False)`` value: its ``bytes`` when present (the path may then be only a file name,
    e.g. in a Parquet dataset), else the file at its ``path``."""
    data = video.get("bytes")
    if data is not None:
        if isinstance(data, (bytes, bytearray)):
            return np.frombuffer(data, dtype=np.uint8)
        if isinstance(data, memoryview):
            return _from_memoryview(data, desc)
        raise TypeError(f"Video value {desc}: 'bytes' must be bytes, got {type(data).__name__}")
    path = video.get("path")
    if path is None:
        reason = "it is a Video value with neither 'bytes' nor 'path'"
        raise InvalidVideoError(f"Video {desc}: {reason}", input_name=desc, reason=reason)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"Video value {desc}: 'path' must be a str, got {type(path).__name__}")
    return _read_path(path, desc, max_bytes)


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
              host copy for tensors on other devices;
            * a ``datasets.Video(decode=False)`` value, ``{"bytes": ..., "path": ...}`` (what a
              ``videofolder`` or Parquet ``Video`` column holds) — its bytes when present, else the file
              at its path (read as above).
        name: label for the input in error messages (defaults to the path, the file object's
            name, or a type/length description).
        max_bytes: optional upper limit on the size in bytes; larger inputs raise
            :class:`VideoTooLargeError` (paths are checked with ``fstat`` before reading, streams
            are read at most ``max_bytes + 1`` bytes far).

    Returns:
        A 1-D ``numpy.ndarray`` of dtype ``uint8`` with at least one element. It may share
        memory with (and may be read-only like) the input.

    Raises:
        VideoNotFoundError: the path does not exist (a ``FileNotFoundError``).
        VideoIsADirectoryError: the path is a directory (an ``IsADirectoryError``).
        VideoPermissionError: the path cannot be opened (a ``PermissionError``).
        VideoReadError: the path is not a regular file (FIFO, socket, device — refused before
            opening, since reading could block or never end), a symbolic-link loop, an I/O error,
            or a file object whose ``read`` fails.
        VideoTooLargeError: the input exceeds ``max_bytes``.
        InvalidVideoError: the input is empty, or a ``str`` "path" contains NUL (content passed as str).
        ValueError: an array with the wrong number of dimensions, or an invalid ``max_bytes``.
        TypeError: the input has an unsupported type or dtype, or is a text-mode file object.

        All the ``Video*Error`` classes derive from :class:`~bytevid_hf.processing.errors.VideoInputError`
        (a ``ValueError``) and name the input and the reason.
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
    elif _is_video_value(video):
        arr = _from_video_value(video, desc, max_bytes)
    else:
        hint = ""
        if type(video).__name__ == "VideoDecoder":  # datasets' Video(decode=True) value (torchcodec)
            hint = (" (a decoded datasets Video value: cast the column with "
                    "dataset.cast_column(name, datasets.Video(decode=False)) so that rows hold the encoded file)")
        raise TypeError(
            f"Unsupported video input {desc}: expected {ACCEPTED_VIDEO_TYPES}, "
            f"got {type(video).__module__}.{type(video).__qualname__}{hint}"
        )
    return _finish(arr, desc, max_bytes)
