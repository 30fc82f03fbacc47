"""Open, demux and decode a video held in memory: the one PyAV decode path of :mod:`bytevid_hf.processing`.

Transcoding, augmentation, JPEG mode and the RGB-reconstruction targets all read frames through
:func:`open_video`, so they share:

* **one deadline** (:class:`~.deadline.Deadline`) over opening, demuxing and decoding: the demuxer reads through a
  :class:`~.deadline.DeadlineReader`, and the deadline is checked between packets and frames (callers check it
  between the output frames they encode, too);
* **one error mapping** (:func:`video_errors`): every PyAV/FFmpeg failure, corrupted timestamps
  (:class:`~.frame_rate.TimestampError`) and impossible sizes (``MemoryError``/``OverflowError``) inside the block —
  opening, decoding, and whatever the caller does with the frames (encoding) — become one
  :class:`~.errors.InvalidVideoError` ``"Could not {operation} video {name}: {reason}"``, the original error chained
  as ``__cause__``; a video without a video stream or without a decodable frame is reported the same way;
* **one timing rule**: a frame's time is its presentation time relative to the first decoded video frame (which is
  at 0 s), as an exact :class:`~fractions.Fraction` of seconds (``pts * time_base``, so that the constant-rate
  resampler rounds exactly as FFmpeg does); a frame without a timestamp is placed at ``index / nominal rate``;
  ``max_seconds`` keeps the frames shown before it (always at least the first one) and the audio before it;
* quiet FFmpeg logs (:func:`~.ffmpeg_logs.quiet_ffmpeg_logs`) and ``metadata_errors="replace"`` (broken metadata
  strings do not fail decoding).

Only the first video stream is decoded (and, on request, the first audio stream).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from typing import Any, NamedTuple

import av
import av.error

from .deadline import Deadline, DeadlineReader
from .errors import InvalidVideoError
from .ffmpeg_logs import quiet_ffmpeg_logs
from .frame_rate import TimestampError, exact

__all__ = ["DEFAULT_FRAME_RATE", "DecodedFrame", "VideoDecoder", "invalid_video", "open_video", "video_errors"]

#: Nominal frame rate of a stream that declares none (used for frames without timestamps and the last frame's
#: duration).
DEFAULT_FRAME_RATE = 25

# Audio frames kept while waiting for the first video frame (their times are relative to it).
_MAX_AUDIO_BACKLOG = 512

# Stages in which an InvalidDataError / EOFError means the input itself is broken.
_READING_STAGES = ("opening the input", "decoding")


class DecodedFrame(NamedTuple):
    """One decoded frame: ``frame`` (``av.VideoFrame`` or ``av.AudioFrame``), ``seconds`` (presentation time relative
    to the first video frame, exact; never ``None`` for video, ``None`` for audio frames without a timestamp) and
    ``is_video``."""

    frame: Any
    seconds: Fraction | None
    is_video: bool


def _exact_time(frame: Any) -> Fraction | None:
    """``frame.pts * frame.time_base`` in seconds, exactly (``frame.time`` is the same as a float)."""
    if frame.pts is None or frame.time_base is None:
        return None
    return frame.pts * Fraction(frame.time_base)


def invalid_video(operation: str, desc: str, reason: str) -> InvalidVideoError:
    """The package's error for an input that cannot be decoded: ``"Could not {operation} video {desc}: {reason}"``."""
    return InvalidVideoError(f"Could not {operation} video {desc}: {reason}", input_name=desc, reason=reason)


def _ffmpeg_reason(error: BaseException, stage: str) -> str:
    """FFmpeg's message (without PyAV's '<none>' file name), the stage, the error type and, for broken data, a hint."""
    message = getattr(error, "strerror", None) or str(error) or type(error).__name__
    hint = ""
    if stage in _READING_STAGES and isinstance(error, (av.error.InvalidDataError, av.error.EOFError)):
        hint = "; the data is not a video, or it is truncated or corrupted (e.g. a missing 'moov' box)"
    return f"{message} while {stage} ({type(error).__name__}){hint}"


@contextmanager
def video_errors(operation: str, desc: str, deadline: Deadline) -> Iterator[None]:
    """Report every decoding/encoding failure inside the block as :class:`~.errors.InvalidVideoError`.

    ``operation`` is the verb of the message (``"transcode"``, ``"decode"``, ...); ``deadline.stage`` says where the
    failure happened. FFmpeg's log output is silenced inside the block. Errors of the package
    (:class:`~.errors.VideoInputError`, e.g. a :class:`~.errors.VideoDecodeTimeoutError`) pass unchanged.
    """
    try:
        with quiet_ffmpeg_logs():
            yield
    except av.error.FFmpegError as e:
        raise invalid_video(operation, desc, _ffmpeg_reason(e, deadline.stage)) from e
    except TimestampError as e:
        raise invalid_video(operation, desc, str(e)) from e
    except (MemoryError, OverflowError) as e:  # absurd declared sizes that libav or PyAV could not allocate
        reason = f"{type(e).__name__} while {deadline.stage} ({e}); the file declares impossible sizes"
        raise invalid_video(operation, desc, reason) from e


class VideoDecoder:
    """An open input: iterate over it for its :class:`DecodedFrame` s, in demuxing order.

    Attributes:
        video_stream: the first video stream (``av.VideoStream``).
        audio_stream: the first audio stream when audio was requested and the input has one, else ``None``.
        frame_duration: nominal duration of one video frame in seconds, a ``Fraction`` (``1 / average rate``, else
            ``1 / guessed rate``, else ``1 /`` :data:`DEFAULT_FRAME_RATE`).
    """

    def __init__(self, container: Any, *, operation: str, desc: str, deadline: Deadline, audio: bool,
                 max_seconds: float | None) -> None:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            raise invalid_video(operation, desc, f"it has no video stream (streams: {kinds})")
        self.video_stream = container.streams.video[0]
        self.audio_stream = container.streams.audio[0] if audio and container.streams.audio else None
        rate = self.video_stream.average_rate or self.video_stream.guessed_rate or DEFAULT_FRAME_RATE
        self.frame_duration = 1 / Fraction(rate)
        self._container = container
        self._operation, self._desc = operation, desc
        self._deadline = deadline
        self._max_seconds = None if max_seconds is None else exact(max_seconds)

    def __iter__(self) -> Iterator[DecodedFrame]:
        deadline, max_seconds = self._deadline, self._max_seconds
        video, audio = self.video_stream, self.audio_stream
        count = 0  # video frames yielded
        origin: Fraction | None = None  # time of the first video frame with a timestamp
        backlog: list = []  # audio frames decoded before the first video frame
        video_done, audio_done = False, audio is None

        def audio_item(frame: Any) -> DecodedFrame | None:
            nonlocal audio_done
            time = _exact_time(frame)
            seconds = None if time is None else time - (origin or 0)
            if max_seconds is not None and seconds is not None and seconds >= max_seconds:
                audio_done = True
                return None
            return DecodedFrame(frame, seconds, False)

        for packet in self._container.demux([video] + ([audio] if audio is not None else [])):
            deadline.check()
            if packet.stream is video:
                if video_done:
                    continue
                for frame in packet.decode():
                    deadline.check()
                    time = _exact_time(frame)
                    if time is None:  # no timestamp: the stream's nominal rate
                        seconds = count * self.frame_duration
                    else:
                        origin = time if origin is None else origin
                        seconds = time - origin
                    if max_seconds is not None and count and seconds >= max_seconds:
                        video_done = True
                        break
                    count += 1
                    yield DecodedFrame(frame, seconds, True)
                    if count == 1:
                        for queued in backlog:
                            item = audio_item(queued)
                            if item is None:
                                break
                            yield item
                        backlog.clear()
                    deadline.stage = "decoding"  # the caller may have set another stage (e.g. "encoding")
            elif not audio_done:
                for frame in packet.decode():
                    deadline.check()
                    if not count:
                        if len(backlog) < _MAX_AUDIO_BACKLOG:
                            backlog.append(frame)
                        continue
                    item = audio_item(frame)
                    if item is None:
                        break
                    yield item
                    deadline.stage = "decoding"
            if video_done and audio_done:
                break
        if not count:
            raise invalid_video(self._operation, self._desc, "no video frames could be decoded")


@contextmanager
def open_video(data: Any, *, operation: str, desc: str, deadline: Deadline, audio: bool = False,
               max_seconds: float | None = None) -> Iterator[VideoDecoder]:
    """Open encoded video bytes for decoding; errors inside the block are mapped by :func:`video_errors`.

    Args:
        data: the encoded file (bytes, a 1-D uint8 array, any buffer), read without a copy.
        operation: verb for error messages (``"transcode"``, ``"decode"``, ``"augment"``, ``"sample frames from"``).
        desc: the input's name for error messages.
        deadline: the one deadline of the whole operation (also checked on every read of the demuxer).
        audio: also decode the first audio stream (if any).
        max_seconds: only the frames shown in the first ``max_seconds`` seconds (``None`` = all).

    Example::

        deadline = Deadline(timeout, name, action="decoding")
        with open_video(data, operation="decode", desc=name, deadline=deadline) as video:
            for frame, seconds, is_video in video:
                ...
    """
    with video_errors(operation, desc, deadline):
        # metadata_errors="replace": corrupted metadata strings must not fail decoding (UnicodeDecodeError).
        with av.open(DeadlineReader(data, deadline), "r", metadata_errors="replace") as container:
            deadline.stage = "decoding"
            deadline.check()
            yield VideoDecoder(container, operation=operation, desc=desc, deadline=deadline, audio=audio,
                               max_seconds=max_seconds)
