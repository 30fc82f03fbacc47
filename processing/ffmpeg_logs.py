"""Keep FFmpeg / codec chatter (x264 statistics, x265 banners, demuxer warnings) off the terminal.

PyAV routes FFmpeg's ``av_log`` messages through :mod:`av.logging`. Its level ``None`` installs a
callback that drops every message; any other level forwards messages to Python's ``logging``
(where the ``lastResort`` handler prints warnings to stderr), and
``av.logging.restore_default_callback()`` makes FFmpeg print straight to stderr.
:func:`quiet_ffmpeg_logs` switches to the dropping callback for the duration of a block and then
restores the previous :func:`av.logging.get_level` value, so the process-wide setting is only
changed temporarily.

libx265 is the exception: it prints its banner and statistics with its own ``fprintf`` instead of
``av_log``, so it is silenced separately through the encoder parameter ``log-level=none`` in
``x265-params`` (see :data:`QUIET_ENCODER_PARAMS`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import av
import av.logging

__all__ = ["quiet_ffmpeg_logs", "QUIET_ENCODER_PARAMS"]

#: Encoder-private parameters (``x265-params`` entries) that silence encoders which bypass
#: FFmpeg's logging system.
QUIET_ENCODER_PARAMS: dict[str, dict[str, str]] = {
    "libx265": {"log-level": "none"},
}

# The av.logging level is process-global, so nested or concurrent uses share one save/restore:
# the first block to enter saves the level, the last one to leave restores it.
_lock = threading.Lock()
_depth = 0
_saved_level: int | None = None


@contextmanager
def quiet_ffmpeg_logs() -> Iterator[None]:
    """Silence FFmpeg's ``av_log`` output inside the block, restoring the previous level after.

    Re-entrant and thread-safe in the sense that the level saved by the outermost block is the
    one restored when the last block exits.

    Caveat: PyAV cannot report whether FFmpeg's *default* (printing) callback was installed via
    ``av.logging.restore_default_callback()``; if the saved level is ``None`` the restored state is
    PyAV's default, the silent callback.
    """
    global _depth, _saved_level
    with _lock:
        if _depth == 0:
            _saved_level = av.logging.get_level()
            av.logging.set_level(None)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                av.logging.set_level(_saved_level)
                _saved_level = None
