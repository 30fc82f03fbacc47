"""Fuzzing the input path: corrupted mp4s and hostile files through the processor, transcoder and pipeline.

Shared by ``tests/test_fuzz_inputs.py`` (hypothesis, bounded, in CI) and ``scripts/fuzz_inputs.py``
(longer runs, optional subprocess isolation, the README table). Nothing here imports hypothesis:
a case is ``(mutation name, seed)``, and :func:`mutate` turns it into bytes deterministically, so
any finding is reproduced by its name and seed.

The rule every target checks: the outcome is either a **correct result** — checked against an
independent reference, not just "no exception" — or a **documented exception**
(:class:`~bytevid_hf.processing.errors.VideoInputError`, whose message names the input), within a
wall-clock limit. Anything else (another exception type, a wrong result, a message that does not
name the input, a run past the limit) is a *finding*.
"""

from __future__ import annotations

import io
import os
import random
import struct
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..processing import BytesVideoProcessor, transcode_video, video_to_jpeg_bytes
from ..processing.errors import VideoInputError
from ..processing.jpeg import split_jpeg_stream
from ..processing.transcode import encode_frames

__all__ = [
    "MUTATIONS",
    "TARGETS",
    "Box",
    "Outcome",
    "parse_boxes",
    "mutate",
    "tiny_mp4",
    "run_case",
    "file_cases",
]

# ----------------------------------------------------------------------------------------------- mp4 boxes

#: ISO-BMFF boxes whose payload is a list of child boxes (the ones a small H.264 mp4 uses).
CONTAINER_BOXES = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"dinf", b"edts", b"udta", b"mvex"})


@dataclass(frozen=True)
class Box:
    """One box: ``offset`` of its header in the file, total ``size`` (header included), ``type``,
    ``header`` length (8, or 16 with a 64-bit size) and nesting ``depth`` (0 = top level)."""

    offset: int
    size: int
    type: bytes
    header: int
    depth: int


def parse_boxes(data: bytes, start: int = 0, end: int | None = None, depth: int = 0) -> list[Box]:
    """Every box of a well-formed ISO-BMFF file in file order, descending into :data:`CONTAINER_BOXES`.

    Stops at the first header that does not fit (so a mutated file yields the boxes before the damage).
    """
    end = len(data) if end is None else end
    boxes: list[Box] = []
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            if pos + 16 > end:
                break
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:  # "to the end of the file"
            size = end - pos
        if size < header or pos + size > end:
            break
        boxes.append(Box(pos, size, kind, header, depth))
        if kind in CONTAINER_BOXES:
            boxes.extend(parse_boxes(data, pos + header, pos + size, depth + 1))
        pos += size
    return boxes


def _find(boxes: list[Box], kind: bytes) -> Box | None:
    return next((b for b in boxes if b.type == kind), None)


# ----------------------------------------------------------------------------------------------- mutations


def _bit_flips(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 32)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _byte_runs(data: bytes, rng: random.Random) -> bytes:
    """Overwrite 1–4 runs of up to 64 bytes with random bytes, 0x00 or 0xFF."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        start = rng.randrange(len(out))
        n = min(rng.randint(1, 64), len(out) - start)
        fill = rng.choice([None, 0x00, 0xFF])
        out[start : start + n] = bytes(rng.randrange(256) if fill is None else fill for _ in range(n))
    return bytes(out)


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(1, len(data))]


def _truncate_in_moov(data: bytes, rng: random.Random) -> bytes:
    moov = _find(parse_boxes(data), b"moov")
    if moov is None:
        return _truncate(data, rng)
    return data[: rng.randrange(moov.offset + 1, moov.offset + moov.size)]


def _drop_moov(data: bytes, rng: random.Random) -> bytes:
    moov = _find(parse_boxes(data), b"moov")
    if moov is None:
        return _truncate(data, rng)
    return data[: moov.offset] + data[moov.offset + moov.size :]


def _zero_length_mdat(data: bytes, rng: random.Random) -> bytes:
    """An ``mdat`` with no payload: either the payload removed (header says 8) or only the size set to 8."""
    mdat = _find(parse_boxes(data), b"mdat")
    if mdat is None:
        return _truncate(data, rng)
    header = struct.pack(">I4s", 8, b"mdat")
    if rng.random() < 0.5:
        return data[: mdat.offset] + header + data[mdat.offset + mdat.size :]
    return data[: mdat.offset] + header + data[mdat.offset + 8 :]


_ABSURD_SIZES = (0, 1, 2, 7, 8, 9, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def _absurd_box_size(data: bytes, rng: random.Random) -> bytes:
    """Set one box's declared size (any depth) to an absurd value: 0, 1 (64-bit size follows), tiny,
    2**31 ± 1, 2**32 − 1, a random 32-bit value, or a 64-bit size of up to 2**64 − 1."""
    boxes = parse_boxes(data)
    if not boxes:
        return _bit_flips(data, rng)
    box = rng.choice(boxes)
    out = bytearray(data)
    choice = rng.random()
    if choice < 0.6:
        value = rng.choice(_ABSURD_SIZES)
    elif choice < 0.8:
        value = rng.randrange(2**32)
    else:  # 64-bit largesize over the first 8 payload bytes
        out[box.offset : box.offset + 4] = struct.pack(">I", 1)
        large = rng.choice([0, 15, 2**63, 2**64 - 1, rng.randrange(2**64)])
        out[box.offset + 8 : box.offset + 16] = struct.pack(">Q", large)
        return bytes(out)
    out[box.offset : box.offset + 4] = struct.pack(">I", value)
    return bytes(out)


def _absurd_table_entry(data: bytes, rng: random.Random) -> bytes:
    """Inside a sample table box (stsz/stco/stts/stsc/stss), set the entry count or a field to an absurd value."""
    tables = [b for b in parse_boxes(data) if b.type in (b"stsz", b"stco", b"stts", b"stsc", b"stss", b"ctts")]
    if not tables:
        return _absurd_box_size(data, rng)
    box = rng.choice(tables)
    out = bytearray(data)
    # full-box header (version+flags, 4 bytes) then the table's fields: overwrite one of its first words
    fields = max(1, (box.size - box.header - 4) // 4)
    pos = box.offset + box.header + 4 + 4 * rng.randrange(min(fields, 6))
    if pos + 4 <= len(out):
        out[pos : pos + 4] = struct.pack(">I", rng.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, rng.randrange(2**32)]))
    return bytes(out)


def _shuffle_boxes(data: bytes, rng: random.Random) -> bytes:
    top = [b for b in parse_boxes(data) if b.depth == 0]
    if len(top) < 2:
        return _bit_flips(data, rng)
    parts = [data[b.offset : b.offset + b.size] for b in top]
    rng.shuffle(parts)
    return b"".join(parts)


def _random_bytes(data: bytes, rng: random.Random) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.randint(1, 4096)))


def _mp4_header_then_garbage(data: bytes, rng: random.Random) -> bytes:
    """A valid ``ftyp`` (and what follows up to a random point) then random bytes."""
    cut = rng.randrange(8, len(data))
    return data[:cut] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 2048)))


#: Mutation name -> function ``(valid mp4 bytes, rng) -> mutated bytes`` (never empty).
MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "bit_flips": _bit_flips,
    "byte_runs": _byte_runs,
    "truncate": _truncate,
    "truncate_in_moov": _truncate_in_moov,
    "drop_moov": _drop_moov,
    "zero_length_mdat": _zero_length_mdat,
    "absurd_box_size": _absurd_box_size,
    "absurd_table_entry": _absurd_table_entry,
    "shuffle_boxes": _shuffle_boxes,
    "random_bytes": _random_bytes,
    "mp4_header_then_garbage": _mp4_header_then_garbage,
}


def mutate(data: bytes, mutation: str, seed: int) -> bytes:
    """The mutated bytes for case ``(mutation, seed)`` — deterministic."""
    out = MUTATIONS[mutation](data, random.Random(f"{mutation}:{seed}"))
    return out if out else data[:1]


def tiny_mp4(num_frames: int = 6, size: int = 32, fps: int = 6) -> bytes:
    """A small real H.264 mp4 (a moving square on a gradient), made with PyAV: the fuzzers' seed file."""
    t = np.arange(num_frames)[:, None, None]
    y, x = np.mgrid[0:size, 0:size]
    frames = np.zeros((num_frames, size, size, 3), np.uint8)
    frames[..., 0] = (x * 255 // size)[None]
    frames[..., 1] = (y * 255 // size)[None]
    square = (abs(x[None] - (4 + 3 * t)) < 5) & (abs(y[None] - size // 2) < 5)
    frames[..., 2] = np.where(square, 255, 40)
    return encode_frames(frames, fps=fps, bitrate=40_000)


# ----------------------------------------------------------------------------------------------- outcomes


@dataclass
class Outcome:
    """What one case did: ``kind`` is ``"ok"``, ``"error"`` (a documented exception) or ``"finding"``."""

    kind: str
    detail: str = ""  # the exception type for "error", the problem for "finding"
    seconds: float = 0.0
    message: str = ""

    @property
    def label(self) -> str:
        return self.kind if self.kind != "error" else f"error:{self.detail}"


def _decodes(data: bytes) -> int:
    """Number of video frames PyAV decodes from ``data`` (the reference check of a transcode)."""
    import av

    with av.open(io.BytesIO(data)) as c:
        return sum(1 for _ in c.decode(video=0))


def _check_message(error: VideoInputError, name: str) -> str | None:
    if name not in str(error) and repr(name) not in str(error):
        return f"message does not name the input {name!r}: {error}"
    if not error.reason:
        return f"no reason attribute: {error!r}"
    return None


@dataclass
class Target:
    """A fuzz target: ``check(data, name, timeout)`` raises ``AssertionError`` on a wrong result."""

    name: str
    description: str
    check: Callable[[Any, str, float], None]
    extra: dict[str, Any] = field(default_factory=dict)


def _check_processor(video: Any, name: str, timeout: float) -> None:
    """Default processor (no transcoding): any readable non-empty input gives exactly its bytes."""
    out = BytesVideoProcessor()(video, return_tensors="np")
    expected = _raw_bytes(video)
    got = out["input_ids"][0].tobytes()
    assert got == expected, f"input_ids differ from the file's bytes ({len(got)} vs {len(expected)})"
    assert int(out["attention_mask"].sum()) == len(expected)


def _raw_bytes(video: Any) -> bytes:
    if isinstance(video, (bytes, bytearray)):
        return bytes(video)
    with open(video, "rb") as f:
        return f.read()


def _check_transcode(video: Any, name: str, timeout: float) -> None:
    """transcode_video: the output must itself be a decodable H.264 mp4 with at least one frame."""
    out = transcode_video(video, size=32, bitrate=50_000, fps=6, timeout=timeout)
    assert _decodes(out) >= 1, "transcode output has no decodable frames"


def _check_jpeg(video: Any, name: str, timeout: float) -> None:
    """JPEG mode (resampled to 6 fps): exactly num_frames JPEGs, each one a decodable image."""
    from PIL import Image

    out = video_to_jpeg_bytes(video, num_frames=3, fps=6, size=16, timeout=timeout)
    parts = split_jpeg_stream(out)
    assert len(parts) == 3, f"expected 3 JPEGs, got {len(parts)}"
    for part in parts:
        with Image.open(io.BytesIO(part)) as img:
            img.load()


TARGETS: dict[str, Target] = {
    "processor": Target("processor", "BytesVideoProcessor() (raw bytes, no decoding)", _check_processor),
    "transcode": Target("transcode", "transcode_video (PyAV decode + x264 encode)", _check_transcode),
    "jpeg": Target("jpeg", "video_to_jpeg_bytes (PyAV decode + JPEG)", _check_jpeg),
}


def run_case(check: Callable[[Any, str, float], None], video: Any, name: str, timeout: float,
             limit: float | None = None) -> Outcome:
    """Run one case in-process; classify it. ``limit`` (default ``timeout + 10`` s) is the wall-clock
    guard: a case that returns or raises later than that is a finding (it would have been a hang)."""
    limit = timeout + 10.0 if limit is None else limit
    start = time.monotonic()
    try:
        check(video, name, timeout)
    except VideoInputError as e:
        seconds = time.monotonic() - start
        problem = _check_message(e, name)
        if problem is not None:
            return Outcome("finding", problem, seconds, str(e))
        if seconds > limit:
            return Outcome("finding", f"took {seconds:.1f} s > {limit:.0f} s", seconds, str(e))
        return Outcome("error", type(e).__name__, seconds, str(e))
    except AssertionError as e:
        return Outcome("finding", f"wrong result: {e}", time.monotonic() - start)
    except Exception as e:  # noqa: BLE001 - anything undocumented is what the fuzzer looks for
        return Outcome("finding", f"undocumented {type(e).__name__}: {e}", time.monotonic() - start,
                       traceback.format_exc(limit=-3))
    seconds = time.monotonic() - start
    if seconds > limit:
        return Outcome("finding", f"took {seconds:.1f} s > {limit:.0f} s", seconds)
    return Outcome("ok", "", seconds)


# ----------------------------------------------------------------------------------------------- file cases


def file_cases(directory: str, valid_mp4: bytes) -> list[tuple[str, str, str | None]]:
    """Create hostile filesystem inputs under ``directory``; return ``(case, path, skip_reason)`` triples.

    Cases: a real mp4 with a wrong extension, text / PNG / empty files named ``.mp4``, a directory,
    an unreadable file (chmod 000; skipped as root, where reads are not denied), a symlink loop,
    a dangling symlink, a FIFO (no writer: opening it would block forever), a character device
    (``/dev/zero``: endless), and a path with a NUL byte.
    """
    from PIL import Image

    def write(name: str, data: bytes) -> str:
        path = os.path.join(directory, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    cases: list[tuple[str, str, str | None]] = [
        ("mp4 named .txt", write("real_video.txt", valid_mp4), None),
        ("text named .mp4", write("notes.mp4", b"These are not the frames you are looking for.\n" * 20), None),
        ("empty .mp4", write("empty.mp4", b""), None),
    ]
    png = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 200, np.uint8)).save(png, format="PNG")
    cases.append(("PNG named .mp4", write("picture.mp4", png.getvalue()), None))
    sub = os.path.join(directory, "a_directory.mp4")
    os.makedirs(sub, exist_ok=True)
    cases.append(("directory", sub, None))
    locked = write("locked.mp4", valid_mp4)
    os.chmod(locked, 0)
    skip = "running as root: chmod 000 does not deny reads" if os.geteuid() == 0 else None
    cases.append(("unreadable (chmod 000)", locked, skip))
    loop_a, loop_b = os.path.join(directory, "loop_a.mp4"), os.path.join(directory, "loop_b.mp4")
    for src, dst in ((loop_b, loop_a), (loop_a, loop_b)):
        if not os.path.lexists(dst):
            os.symlink(src, dst)
    cases.append(("symlink loop", loop_a, None))
    dangling = os.path.join(directory, "dangling.mp4")
    if not os.path.lexists(dangling):
        os.symlink(os.path.join(directory, "does_not_exist.mp4"), dangling)
    cases.append(("dangling symlink", dangling, None))
    fifo = os.path.join(directory, "pipe.mp4")
    if hasattr(os, "mkfifo"):
        if not os.path.exists(fifo):
            os.mkfifo(fifo)
        cases.append(("FIFO without writer", fifo, None))
    cases.append(("character device /dev/zero", "/dev/zero", None if os.path.exists("/dev/zero") else "no /dev/zero"))
    cases.append(("missing file", os.path.join(directory, "missing.mp4"), None))
    cases.append(("path with a NUL byte", os.path.join(directory, "bad\0name.mp4"), None))
    return cases


def input_name(video: Any) -> str:
    """How the processing code names ``video`` in its messages (what a documented error must contain)."""
    from ..processing.io import describe_video

    if isinstance(video, (bytes, bytearray)):
        return f"<bytes of length {len(video)}>"
    return describe_video(video)


# ----------------------------------------------------------------------------------------------- pipeline


def check_pipeline(pipe: Any, good: Any, bad: Any, reference: Any) -> None:
    """``pipe([good, bad, good])`` with both ``on_error`` modes (the "pipeline" fuzz target).

    ``on_error="skip"``: three aligned outputs; both good ones equal ``reference`` (``pipe(good)``
    alone); the bad one is ``None`` exactly when a :class:`SkippedVideoInputsWarning` names
    ``inputs[1]``, else a valid prediction. ``on_error="raise"``: the same prediction, or a
    :class:`VideoInputError` with ``index == 1`` whose message starts with ``inputs[1]`` — re-raised
    (so :func:`run_case` classifies it) after these checks.
    """
    import warnings

    from ..pipelines import SkippedVideoInputsWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = pipe([good, bad, good], on_error="skip")
    skipped = [w.message for w in caught if isinstance(w.message, SkippedVideoInputsWarning)]
    assert len(results) == 3, f"expected 3 aligned results, got {len(results)}"
    assert results[0] == reference and results[2] == reference, "a good input's result changed next to a bad one"
    if results[1] is None:
        assert len(skipped) == 1 and [i for i, _ in skipped[0].errors] == [1], "skip without a warning naming inputs[1]"
        assert "inputs[1]" in str(skipped[0])
    else:
        assert not skipped and isinstance(results[1], list) and results[1], f"bad prediction {results[1]!r}"
    try:
        raised = pipe([good, bad, good], on_error="raise")
    except VideoInputError as e:
        assert results[1] is None, "raised in raise mode but not skipped in skip mode"
        assert e.index == 1 and str(e).startswith("inputs[1]: "), f"error does not name inputs[1]: {e}"
        raise
    assert raised == results, "raise mode returned different results"
