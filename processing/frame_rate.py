"""The one constant-frame-rate resampler of the package: which decoded frame is shown at each output frame.

Transcoding (frames re-encoded at ``fps``), JPEG mode (``jpeg_fps``) and augmentation (the temporal crop) all turn
frames with timestamps into a constant rate with :class:`ConstantRateResampler`:

* the output has slots ``0, 1, 2, ...`` at ``slot / fps`` seconds;
* a frame shown from ``t`` seconds takes slot ``floor(t * fps + 1/2)`` (the nearest slot, half up) — the first
  frame always takes slot 0, so it also fills any slots before its time;
* each frame is repeated until the next frame's slot (duplication), and a frame whose slot a later frame takes is
  dropped; the last frame lasts until the end time given to :meth:`~ConstantRateResampler.finish` (at least one
  slot);
* ``max_frames`` caps the output.

This is the rule of FFmpeg's ``fps`` filter (``round=near``, ``start_time`` at the first frame), except that the
last frame is always shown at least once. The filter itself is not used: callers need to know *which decoded frame*
fills each slot (JPEG mode encodes each decoded frame once and repeats its bytes; augmentation crops a window of
frames it holds), and corrupted timestamps must be caught before a frame is duplicated millions of times.

The resampler never holds more than one item and reports runs (an item and the range of slots it fills), so a frame
repeated for an hour costs no memory. A gap longer than :data:`MAX_FRAME_GAP_SECONDS` raises
:class:`TimestampError`, which :mod:`.decode` reports as an :class:`~.errors.InvalidVideoError` naming the input.
"""

from __future__ import annotations

import math
from fractions import Fraction
from numbers import Rational, Real
from typing import Any, NamedTuple

__all__ = ["ConstantRateResampler", "Run", "TimestampError", "MAX_FPS", "MAX_FRAME_GAP_SECONDS", "as_fraction", "exact",
           "frame_count"]

#: Largest output frame rate a setting may ask for (transcoding ``fps``, JPEG ``jpeg_fps``). High-speed cameras record
#: 240-960 fps; a higher target only repeats frames (``fps=1e6`` turns one second into a million encoded frames).
MAX_FPS = 1000

#: Longest time in seconds one decoded frame may be held (repeated) by the resampler. A corrupted timestamp (e.g. an
#: ``stts`` delta of 2**31) claims a gap of days, which would be filled with millions of repeated frames; a real
#: video does not go an hour without a frame, so such a gap is reported as corruption instead.
MAX_FRAME_GAP_SECONDS = 3600.0


class TimestampError(ValueError):
    """Frame timestamps that cannot be real (a frame held longer than :data:`MAX_FRAME_GAP_SECONDS`, ...)."""


class Run(NamedTuple):
    """``item`` is shown in the output slots ``slots`` (a non-empty ``range``)."""

    item: Any
    slots: range


def exact(value: Real) -> Fraction:
    """A number (of seconds) as an exact fraction; a float means its shortest decimal form (``0.1`` -> 1/10), so
    that ``max_seconds=0.17`` cuts at exactly 170 ms."""
    if isinstance(value, Rational):  # int, Fraction, numpy integers
        return Fraction(int(value.numerator), int(value.denominator))
    return Fraction(repr(float(value)))  # float, numpy floats


def as_fraction(fps: Real) -> Fraction:
    """A frame rate as an exact fraction (denominator at most 10**6, e.g. 2997/100 for 29.97)."""
    return exact(fps).limit_denominator(1_000_000)


def frame_count(seconds: Real, fps: Real) -> int:
    """Number of output frames in ``seconds`` at ``fps``: ``floor(seconds * fps + 1/2)``, at least 1."""
    return max(1, math.floor(exact(seconds) * as_fraction(fps) + Fraction(1, 2)))


class ConstantRateResampler:
    """Assign items (decoded frames, their indices, ...) shown from given times to constant-rate output slots.

    Call :meth:`push` for every frame in presentation order, then :meth:`finish` once; each returns the
    :class:`Run` of slots that the *previous* item turned out to fill, or ``None`` when it fills none.

    Args:
        fps: output frame rate.
        max_frames: stop after this many output slots (``None`` = no limit); :attr:`full` tells when reached.
    """

    def __init__(self, fps: Real, max_frames: int | None = None) -> None:
        self.fps = as_fraction(fps)
        self.max_frames = max_frames
        self.next_slot = 0  # first output slot not yet given to an item = number of output frames so far
        self.frames_in = 0
        self._pending: Any = None
        self._has_pending = False
        self._pending_slot = 0

    @property
    def full(self) -> bool:
        """True once ``max_frames`` output slots are filled (further frames are ignored)."""
        return self.max_frames is not None and self.next_slot >= self.max_frames

    def _slot(self, seconds: float) -> int:
        return math.floor(seconds * self.fps + 0.5)

    def _check_gap(self, end_slot: int, what: str) -> None:
        """Raise :class:`TimestampError` if the pending item would be shown longer than the limit (within
        ``max_frames``: what is cut off is never shown)."""
        if self.max_frames is not None:
            end_slot = min(end_slot, self.max_frames)
        if end_slot - self.next_slot > MAX_FRAME_GAP_SECONDS * self.fps:
            raise TimestampError(
                f"{what} would be shown for {float((end_slot - self.next_slot) / self.fps):.6g} s (more than "
                f"{MAX_FRAME_GAP_SECONDS:g} s); the timestamps or the frame rate are corrupted"
            )

    def _take(self, end_slot: int) -> Run | None:
        """The pending item's run up to ``end_slot`` (capped at ``max_frames``)."""
        if self.max_frames is not None:
            end_slot = min(end_slot, self.max_frames)
        if not self._has_pending or end_slot <= self.next_slot:
            return None
        run = Run(self._pending, range(self.next_slot, end_slot))
        self.next_slot = end_slot
        return run

    def push(self, item: Any, seconds: float) -> Run | None:
        """Add ``item``, shown from ``seconds``; return the previous item's run (``None`` if it was dropped).

        Raises :class:`TimestampError` when the previous item would be held longer than
        :data:`MAX_FRAME_GAP_SECONDS`.
        """
        slot = self._slot(seconds) if self.frames_in else 0
        self._check_gap(slot, "one frame")
        self.frames_in += 1
        run = self._take(slot)  # nothing if the new item takes the pending item's slot
        self._pending, self._has_pending, self._pending_slot = item, True, max(slot, self.next_slot)
        return run

    def finish(self, end_seconds: float) -> Run | None:
        """Show the last item until ``end_seconds`` (at least one slot); return its run."""
        if not self._has_pending:
            return None
        end_slot = max(self._pending_slot + 1, self._slot(end_seconds))
        self._check_gap(end_slot, "the last frame")
        run = self._take(end_slot)
        self._pending, self._has_pending = None, False
        return run
