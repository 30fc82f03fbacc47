"""The exceptions raised for bad video inputs: one base class, one subclass per failure mode.

Every input problem the processing code detects raises a :class:`VideoInputError` — a
``ValueError`` — whose message names the input (its path, ``<bytes of length N>``, ``videos[i]``
in a batch, ...) and the reason, and which carries both as attributes. Catch
:class:`VideoInputError` to handle "this one input is bad" and let everything else (wrong argument
*types* raise ``TypeError``; invalid *settings* raise plain ``ValueError``) propagate.

========================== ======================================= ===================================
class                      raised when                             also an instance of
========================== ======================================= ===================================
VideoReadError             the input cannot be read: unreadable     ``OSError``
                           file, symlink loop, not a regular file
                           (FIFO, socket, device), I/O error
 VideoNotFoundError        the path does not exist                  ``FileNotFoundError``
 VideoIsADirectoryError    the path is a directory                  ``IsADirectoryError``
 VideoPermissionError      permission denied                        ``PermissionError``
VideoTooLargeError         larger than the ``max_bytes`` limit
InvalidVideoError          empty, not a video, truncated or
                           corrupted, no video stream, no frames
VideoDecodeTimeoutError    decoding/transcoding ran past its        ``TimeoutError``
                           deadline
========================== ======================================= ===================================

The ``OSError`` subclasses keep ``except FileNotFoundError`` (etc.) working for code written before
this hierarchy existed, and every class is a ``ValueError`` so ``except ValueError`` still catches
all of them.
"""

from __future__ import annotations

__all__ = [
    "VideoInputError",
    "VideoReadError",
    "VideoNotFoundError",
    "VideoIsADirectoryError",
    "VideoPermissionError",
    "VideoTooLargeError",
    "InvalidVideoError",
    "VideoDecodeTimeoutError",
]


class VideoInputError(ValueError):
    """A video input that cannot be used; the message names the input and the reason.

    Attributes:
        input_name: how the input is named in the message (a path, ``"<bytes of length N>"``, ...).
        reason: the reason alone, without the input's name.
        index: position of the input in a batch (``None`` for a single input or when unknown).
    """

    def __init__(self, message: str, *, input_name: str | None = None, reason: str | None = None,
                 index: int | None = None) -> None:
        super().__init__(message)
        self.input_name = input_name
        self.reason = reason
        self.index = index

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __reduce__(self):  # keep the attributes through pickling (DataLoader workers, multiprocessing)
        return (_rebuild, (type(self), str(self), self.input_name, self.reason, self.index))

    def with_batch_index(self, index: int, kind: str = "videos") -> "VideoInputError":
        """A copy of this error, of the same class, whose message starts with ``{kind}[{index}]: ``."""
        err = _rebuild(type(self), f"{kind}[{index}]: {self}", self.input_name, self.reason, index)
        err.__cause__ = self.__cause__
        return err


def _rebuild(cls: type, message: str, input_name: str | None, reason: str | None, index: int | None):
    return cls(message, input_name=input_name, reason=reason, index=index)


class VideoReadError(VideoInputError, OSError):
    """The input's bytes cannot be read (permissions, symlink loop, not a regular file, I/O error)."""


class VideoNotFoundError(VideoReadError, FileNotFoundError):
    """The video path does not exist."""


class VideoIsADirectoryError(VideoReadError, IsADirectoryError):
    """The video path is a directory."""


class VideoPermissionError(VideoReadError, PermissionError):
    """The video file cannot be opened for reading (permission denied)."""


class VideoTooLargeError(VideoInputError):
    """The input is larger than the configured maximum (``max_bytes`` / ``max_input_bytes``)."""


class InvalidVideoError(VideoInputError):
    """The input was read but is not a usable video: empty, not a video, truncated or corrupted
    (e.g. an mp4 without its ``moov`` box), no video stream, or no decodable frames."""


class VideoDecodeTimeoutError(VideoInputError, TimeoutError):
    """Decoding or transcoding the input took longer than its deadline (``decode_timeout`` / ``timeout``)."""
