"""Wall-clock deadlines for PyAV demux/decode/encode loops.

A corrupted or hostile file must not keep a worker busy forever. Every decode in this package goes
through :func:`~.decode.open_video`, which holds the operation's one :class:`Deadline` and calls
:meth:`Deadline.check` between packets and frames (transcoding also between the frames it encodes);
the demuxer reads its input through a :class:`DeadlineReader`, whose
``read`` checks the same deadline, so a demuxer that keeps reading (e.g. scanning a file with
absurd declared box sizes) is interrupted too — PyAV re-raises the exception from the read
callback once the libav call returns.

Why in-process checks and not a worker subprocess: inputs are decoded from memory
(``io.BytesIO``), so no libav call waits on I/O — PyAV's own ``timeout`` option (an interrupt
callback for network reads) has nothing to wait on. What remains is CPU work inside one libav call
(one packet's decode or encode), which is bounded by the packet and frame size. A subprocess per
video would cost an interpreter start plus a copy of every input, for all inputs, to guard against
that residual case; ``scripts/fuzz_inputs.py --subprocess`` runs the fuzz targets in child
processes to check that no input crashes or hangs the interpreter.
"""

from __future__ import annotations

import io
import math
import time
from numbers import Real

from .errors import VideoDecodeTimeoutError

__all__ = ["DEFAULT_DECODE_TIMEOUT", "Deadline", "DeadlineReader", "check_timeout"]

#: Default deadline in seconds for decoding/transcoding one video (``None`` disables it).
#: Generous: single-threaded x264 transcodes a 10-minute 384p clip in about a minute on one core.
DEFAULT_DECODE_TIMEOUT: float = 600.0


def check_timeout(timeout: Real | None, name: str = "timeout") -> float | None:
    """Validate a deadline setting: a positive finite number of seconds or ``None``."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, Real) or not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"{name} must be a positive finite number of seconds or None, got {timeout!r}")
    return float(timeout)


class Deadline:
    """A wall-clock deadline for one input; :meth:`check` raises :class:`VideoDecodeTimeoutError`.

    Args:
        timeout: seconds from now (``None`` = no deadline; :meth:`check` never raises).
        desc: the input's name for the error message.
        action: what is being done, for the message (``"transcoding"``, ``"decoding"``).
    """

    def __init__(self, timeout: float | None, desc: str, action: str = "decoding") -> None:
        self.timeout = timeout
        self.desc = desc
        self.action = action
        self.stage = "opening the input"
        self._end = None if timeout is None else time.monotonic() + timeout

    def check(self) -> None:
        """Raise :class:`VideoDecodeTimeoutError` if the deadline has passed."""
        if self._end is not None and time.monotonic() > self._end:
            reason = (
                f"{self.action} took longer than the deadline of {self.timeout:g} s (stopped while {self.stage}); "
                "the file may be corrupted or far longer than expected — raise the timeout "
                "(decode_timeout / timeout) or pass None to disable it"
            )
            raise VideoDecodeTimeoutError(
                f"Could not finish {self.action} video {self.desc}: {reason}", input_name=self.desc, reason=reason
            )


class DeadlineReader(io.RawIOBase):
    """A seekable binary stream over ``data`` whose ``read`` calls ``deadline.check()`` first.

    Given to ``av.open`` so that the demuxer's reads honour the deadline. Wraps ``data`` (any
    buffer: bytes, a uint8 numpy array, ...) in a ``memoryview``, without a copy when it is contiguous.
    """

    def __init__(self, data, deadline: Deadline) -> None:
        super().__init__()
        view = memoryview(data)
        if not view.c_contiguous:  # e.g. a strided numpy array: one copy
            view = memoryview(view.tobytes())
        self._view = view.cast("B") if view.ndim != 1 or view.format != "B" else view
        self._pos = 0
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self._deadline.check()
        out = memoryview(buffer).cast("B")
        n = max(0, min(len(out), len(self._view) - self._pos))
        out[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = len(self._view) + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos
