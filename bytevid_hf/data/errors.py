"""What a bad input video raises, and which exceptions count as "this video is bad"."""

from __future__ import annotations


class BadVideoError(ValueError):
    """A video could not be read, decoded or augmented (the message names the file)."""


def _bad_video_exceptions() -> tuple[type[BaseException], ...]:
    import av.error

    return (ValueError, OSError, EOFError, av.error.FFmpegError)

