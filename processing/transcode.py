"""Re-encode a video into a canonical format (by default the paper's: H.264 mp4, 384 px, 200 kbps, 25 fps).

Byte models see the encoded file, so the same content stored with different codecs, sizes or
bitrates looks completely different to them. :func:`transcode_video` normalises a video with PyAV:
decode -> resize (shorter side = ``size``) -> resample to a constant ``fps`` -> encode at
``bitrate`` into an in-memory ``container``. Codec log output never reaches the terminal (see
:mod:`.ffmpeg_logs`), every decoding/encoding failure is reported as an
:class:`~.errors.InvalidVideoError` (a ``ValueError``) that names the input, and a wall-clock
deadline (``timeout``, checked between packets and frames and on every demuxer read; see
:mod:`.deadline`) bounds the time spent on one input.
"""

from __future__ import annotations

import functools
import io
import math
from fractions import Fraction
from numbers import Real
from typing import Any

import av
import av.error
from av.video.frame import PictureType

from .deadline import DEFAULT_DECODE_TIMEOUT, Deadline, DeadlineReader, check_timeout
from .errors import InvalidVideoError
from .ffmpeg_logs import QUIET_ENCODER_PARAMS, quiet_ffmpeg_logs
from .io import decoded_input_name, read_video_bytes

__all__ = [
    "transcode_video",
    "CANONICAL_SETTINGS",
    "SUPPORTED_CODECS",
    "SUPPORTED_CONTAINERS",
    "validate_transcode_settings",
    "encode_frames",
]

#: The paper's canonical format: H.264 in mp4, shorter side 384 px, 200 kbit/s, 25 fps, no audio.
CANONICAL_SETTINGS: dict[str, Any] = {
    "codec": "h264",
    "container": "mp4",
    "size": 384,
    "bitrate": 200_000,
    "fps": 25,
    "keep_audio": False,
}

#: User-facing codec name -> FFmpeg encoder.
SUPPORTED_CODECS: dict[str, str] = {
    "h264": "libx264",
    "h265": "libx265",
    "hevc": "libx265",
    "vp9": "libvpx-vp9",
}

#: User-facing container name -> FFmpeg muxer.
SUPPORTED_CONTAINERS: dict[str, str] = {
    "mp4": "mp4",
    "mov": "mov",
    "webm": "webm",
    "mkv": "matroska",
}

# WebM only allows VP8/VP9/AV1 video; the other containers take every supported codec.
_CONTAINER_CODECS: dict[str, frozenset[str]] = {"webm": frozenset({"vp9"})}

# Audio encoder per container when keep_audio=True.
_AUDIO_ENCODERS: dict[str, str] = {"mp4": "aac", "mov": "aac", "mkv": "aac", "webm": "libopus"}
_AAC_RATES = frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000})

# Encoder defaults (user encoder_options override them). Encoders run with one thread
# (codec_context.thread_count = 1, and one x265 frame thread) so that the output bytes do not
# depend on the machine's core count; VP9 uses a fast "good"-deadline speed setting.
_ENCODER_DEFAULTS: dict[str, dict[str, str]] = {
    "libx264": {},
    "libx265": {},
    "libvpx-vp9": {"deadline": "good", "cpu-used": "5", "row-mt": "1"},
}
# Encoders whose private parameters go in one "key=value:key=value" option string.
_PARAMS_OPTION: dict[str, str] = {"libx264": "x264-params", "libx265": "x265-params"}
_DEFAULT_PARAMS: dict[str, dict[str, str]] = {"libx265": {"frame-threads": "1"}}


@functools.lru_cache(maxsize=None)
def _cpu_flags() -> frozenset[str]:
    """CPU feature flags from /proc/cpuinfo (empty where that file does not exist)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def _x264_reproducibility_params() -> dict[str, str]:
    """Work around run-to-run differences in x264's AVX-512 code.

    With AVX-512 enabled, libx264 (macroblock-tree rate control) produced different bytes for the
    same input from one call to the next, depending on heap state; capping x264 at AVX2 makes
    the output reproducible and equal to that of AVX2-only machines. Only applied when the CPU
    is known to support the full AVX2 set (so x264 is never given instructions the CPU lacks).
    """
    flags = _cpu_flags()
    if "avx512f" in flags and {"avx2", "fma", "bmi2"} <= flags:
        return {"asm": "avx2"}
    return {}


def _parse_params(value: str) -> dict[str, str]:
    items = {}
    for item in filter(None, value.split(":")):
        key, _, val = item.partition("=")
        items[key] = val
    return items


def _encoder_options(encoder: str, user_options: dict[str, str] | None) -> dict[str, str]:
    """FFmpeg options for ``encoder``: defaults, then the user's, plus quiet/reproducibility params.

    User options win; entries of ``x264-params``/``x265-params`` are merged key by key, and the
    log silencing / reproducibility parameters are only added where the user did not set them.
    """
    options = dict(_ENCODER_DEFAULTS.get(encoder, {}))
    user = {str(k): str(v) for k, v in (user_options or {}).items()}
    params_key = _PARAMS_OPTION.get(encoder)
    if params_key is not None:
        params = dict(_DEFAULT_PARAMS.get(encoder, {}))
        params.update(_parse_params(user.pop(params_key, "")))
        forced = dict(QUIET_ENCODER_PARAMS.get(encoder, {}))
        if encoder == "libx264":
            forced.update(_x264_reproducibility_params())
        for key, value in forced.items():
            params.setdefault(key, value)
        if params:
            options[params_key] = ":".join(f"{k}={v}" if v else k for k, v in params.items())
    options.update(user)
    return options


#: Longest time in seconds one decoded frame may be held (repeated) by the constant-rate resampler. A
#: corrupted timestamp (e.g. an ``stts`` delta of 2**31) claims a gap of days, which would be filled with
#: millions of repeated frames; a real video does not go an hour without a frame, so such a gap is
#: reported as corruption (:class:`~.errors.InvalidVideoError`) instead of encoded until the deadline.
MAX_FRAME_GAP_SECONDS = 3600.0

# Audio frames kept while waiting for the first video frame (the output is created from it).
_MAX_AUDIO_BACKLOG = 512


def _even(x: float) -> int:
    """Round to the nearest even integer, at least 2 (yuv420p needs even dimensions)."""
    return max(2, int(round(x / 2.0)) * 2)


def _output_size(width: int, height: int, size: int) -> tuple[int, int]:
    """Scale ``(width, height)`` so the shorter side is ``size``, keeping aspect ratio, even sides."""
    scale = size / min(width, height)
    return _even(width * scale), _even(height * scale)


def validate_transcode_settings(
    *,
    codec: str,
    container: str,
    size: int,
    bitrate: int,
    fps: Real,
    keep_audio: bool,
    max_seconds: Real | None = None,
) -> tuple[str, str]:
    """Validate transcoding settings; return the normalised ``(codec, container)`` names.

    Raises:
        ValueError: unknown codec/container (the message lists the supported ones), a codec the
            container cannot hold, or a non-positive size/bitrate/fps/max_seconds.
        TypeError: a setting of the wrong type.
    """
    if not isinstance(codec, str) or codec.lower() not in SUPPORTED_CODECS:
        raise ValueError(f"Unsupported codec {codec!r}; supported codecs: {sorted(SUPPORTED_CODECS)}")
    if not isinstance(container, str) or container.lower() not in SUPPORTED_CONTAINERS:
        raise ValueError(
            f"Unsupported container {container!r}; supported containers: {sorted(SUPPORTED_CONTAINERS)}"
        )
    codec, container = codec.lower(), container.lower()
    allowed = _CONTAINER_CODECS.get(container)
    if allowed is not None and codec not in allowed:
        raise ValueError(
            f"Container {container!r} cannot hold codec {codec!r}; use one of {sorted(allowed)} "
            f"or another container"
        )
    for key, value, minimum in (("size", size, 2), ("bitrate", bitrate, 1)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{key} must be an int, got {type(value).__name__} {value!r}")
        if value < minimum:
            raise ValueError(f"{key} must be >= {minimum}, got {value}")
    if isinstance(fps, bool) or not isinstance(fps, Real) or not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive finite number, got {fps!r}")
    if not isinstance(keep_audio, bool):
        raise TypeError(f"keep_audio must be a bool, got {type(keep_audio).__name__} {keep_audio!r}")
    if max_seconds is not None and (
        isinstance(max_seconds, bool) or not isinstance(max_seconds, Real) or not max_seconds > 0
    ):
        raise ValueError(f"max_seconds must be a positive number or None, got {max_seconds!r}")
    return codec, container


def _frame_seconds(frame: Any) -> float | None:
    t = frame.time
    return None if t is None else float(t)


class _VideoResampler:
    """Resize frames and resample them to a constant frame rate by timestamp.

    Every input frame is assigned the output slot ``round((t - t0) * fps)``; a frame is repeated
    until the next frame's slot (duplication), and a frame whose slot is taken by a later frame is
    dropped. The first frame also fills the slots before it, so the output always starts at pts 0.
    Frames are only converted (``reformat``) when they are emitted.
    """

    def __init__(self, stream: Any, fps: Fraction, width: int, height: int, max_slots: int | None,
                 deadline: Deadline | None = None):
        self.stream = stream
        self.deadline = deadline  # checked per output frame: a corrupted timestamp can ask for millions of repeats
        self.fps = fps
        self.width, self.height = width, height
        self.max_slots = max_slots
        self.next_slot = 0  # first output slot not yet written
        self.pending: Any = None  # latest decoded frame, not yet (fully) emitted
        self.pending_slot = 0
        self.frames_in = 0
        self.frames_out = 0

    @property
    def full(self) -> bool:
        """True once ``max_slots`` output frames have been written."""
        return self.max_slots is not None and self.next_slot >= self.max_slots

    def _slot(self, rel_seconds: float) -> int:
        return math.floor(rel_seconds * self.fps + 0.5)

    def _emit(self, end_slot: int) -> list:
        """Encode the pending frame for output slots ``[next_slot, end_slot)``; return packets."""
        if self.max_slots is not None:
            end_slot = min(end_slot, self.max_slots)
        if self.pending is None or end_slot <= self.next_slot:
            return []
        out = self.pending.reformat(width=self.width, height=self.height, format="yuv420p")
        out.time_base = self.stream.codec_context.time_base
        # reformat() copies the source's picture type; a stale I/P/B type would *force* frame
        # types on the encoder (x264 warns "forced frame type ... was changed"). Let it choose.
        out.pict_type = PictureType.NONE
        packets = []
        for slot in range(self.next_slot, end_slot):
            if self.deadline is not None:
                self.deadline.check()
            out.pts = slot  # the encoder keeps its own reference, so re-stamping is safe
            packets.extend(self.stream.encode(out))
            self.frames_out += 1
        self.next_slot = end_slot
        return packets

    def push(self, frame: Any, rel_seconds: float) -> list:
        """Add a decoded frame shown from ``rel_seconds``; return the packets this completes.

        Raises ``ValueError`` when the gap since the previous frame exceeds :data:`MAX_FRAME_GAP_SECONDS`.
        """
        slot = self._slot(rel_seconds) if self.frames_in else 0
        if slot - self.next_slot > MAX_FRAME_GAP_SECONDS * self.fps and (
            self.max_slots is None or self.next_slot < self.max_slots
        ):
            raise ValueError(
                f"one frame would be shown for {float((slot - self.next_slot) / self.fps):.6g} s (more than "
                f"{MAX_FRAME_GAP_SECONDS:g} s); the timestamps or the frame rate are corrupted"
            )
        self.frames_in += 1
        packets = self._emit(slot)  # nothing if the new frame takes the pending frame's slot
        self.pending, self.pending_slot = frame, max(slot, self.next_slot)
        return packets

    def finish(self, end_seconds: float) -> list:
        """Show the last frame until ``end_seconds`` (at least once), then flush the encoder."""
        packets = []
        if self.pending is not None:
            packets.extend(self._emit(max(self.pending_slot + 1, self._slot(end_seconds))))
            self.pending = None
        packets.extend(self.stream.encode(None))
        return packets


def transcode_video(
    video: Any,
    *,
    codec: str = "h264",
    container: str = "mp4",
    size: int = 384,
    bitrate: int = 200_000,
    fps: Real = 25,
    keep_audio: bool = False,
    name: str | None = None,
    max_seconds: Real | None = None,
    audio_bitrate: int = 64_000,
    encoder_options: dict[str, str] | None = None,
    max_bytes: int | None = None,
    timeout: Real | None = DEFAULT_DECODE_TIMEOUT,
) -> bytes:
    """Decode ``video`` and re-encode it in memory into a canonical format; return the new file's bytes.

    Steps: decode the first video stream; resize every frame so the *shorter* side equals
    ``size`` (aspect ratio kept, each side rounded to an even number, pixel format yuv420p);
    resample to a constant ``fps`` by timestamp (frames dropped or duplicated); encode with
    ``codec`` at ``bitrate`` bit/s into ``container``. With ``keep_audio=True`` the first audio
    stream (if any) is re-encoded as AAC (mp4/mov/mkv) or Opus (webm); otherwise the output has no
    audio. Codec logs (x264/x265 banners and statistics) are suppressed while this runs.

    Args:
        video: anything :func:`~bytevid_hf.processing.read_video_bytes` accepts (path, bytes,
            binary file object, uint8 array/tensor of encoded bytes).
        codec: ``"h264"`` (libx264), ``"h265"``/``"hevc"`` (libx265) or ``"vp9"`` (libvpx-vp9).
        container: ``"mp4"``, ``"mov"``, ``"webm"`` (VP9 only) or ``"mkv"``.
        size: target length in pixels of the shorter side.
        bitrate: target video bitrate in bits per second.
        fps: constant output frame rate.
        keep_audio: keep (re-encode) the first audio stream.
        name: label for the input in error messages (default: the path, or ``"<bytes of length N>"``).
        max_seconds: only transcode the first ``max_seconds`` seconds (``None`` = everything).
        audio_bitrate: audio bitrate in bits per second when ``keep_audio=True``.
        encoder_options: extra FFmpeg options for the video encoder (e.g. ``{"preset": "fast"}``),
            overriding the built-in defaults.
        max_bytes: optional size limit for the *input*, passed to ``read_video_bytes``.
        timeout: wall-clock deadline in seconds for the whole transcode (default
            :data:`~.deadline.DEFAULT_DECODE_TIMEOUT` = 600 s; ``None`` = no deadline). Checked
            between packets and frames and on every read of the demuxer.

    Returns:
        The encoded file as ``bytes``. The output is meant to be reproducible: encoders run
        single-threaded (output independent of the core count), the muxer is in bitexact mode (no
        random Matroska UIDs, no version tag), and x264 is capped at AVX2 on AVX-512 CPUs (its
        AVX-512 path gave run-to-run differences). The bytes still depend on the FFmpeg/encoder
        build.

    Raises:
        InvalidVideoError: the input cannot be transcoded: not a video, truncated or corrupted
            (e.g. an mp4 whose ``moov`` box is missing), no video stream, or no decodable frames.
            The message names the input and the reason; the underlying PyAV error is chained as
            ``__cause__``.
        VideoDecodeTimeoutError: the transcode ran past ``timeout`` seconds.
        ValueError / TypeError: unsupported settings.
        plus the exceptions of :func:`read_video_bytes` for unreadable or too large inputs.
    """
    codec, container = validate_transcode_settings(
        codec=codec,
        container=container,
        size=size,
        bitrate=bitrate,
        fps=fps,
        keep_audio=keep_audio,
        max_seconds=max_seconds,
    )
    timeout = check_timeout(timeout, "timeout")
    data = read_video_bytes(video, name=name, max_bytes=max_bytes)
    name = decoded_input_name(video, data, name)
    fps_frac = Fraction(fps).limit_denominator(1_000_000)
    state = Deadline(timeout, name, action="transcoding")  # also records the current stage
    try:
        with quiet_ffmpeg_logs():
            return _transcode(
                DeadlineReader(data, state),  # zero-copy, read-only view; reads honour the deadline
                state=state,
                desc=name,
                encoder=SUPPORTED_CODECS[codec],
                muxer=SUPPORTED_CONTAINERS[container],
                container=container,
                size=size,
                bitrate=bitrate,
                fps=fps_frac,
                keep_audio=keep_audio,
                max_seconds=None if max_seconds is None else float(max_seconds),
                audio_bitrate=audio_bitrate,
                encoder_options=encoder_options,
            )
    except av.error.FFmpegError as e:
        reason = _reason(e, state.stage)
        raise InvalidVideoError(f"Could not transcode video {name}: {reason}", input_name=name, reason=reason) from e
    except (MemoryError, OverflowError) as e:  # absurd declared sizes that libav or PyAV could not allocate
        reason = f"{type(e).__name__} while {state.stage} ({e}); the file declares impossible sizes"
        raise InvalidVideoError(f"Could not transcode video {name}: {reason}", input_name=name, reason=reason) from e


def _reason(e: BaseException, stage: str) -> str:
    """A short reason for a PyAV error: FFmpeg's message (without PyAV's '<none>' filename) and the stage."""
    message = getattr(e, "strerror", None) or str(e) or type(e).__name__
    hint = ""
    if stage in ("opening the input", "transcoding") and isinstance(
        e, (av.error.InvalidDataError, av.error.EOFError)
    ):
        hint = "; the data is not a video, or it is truncated or corrupted (e.g. a missing 'moov' box)"
    return f"{message} while {stage} ({type(e).__name__}){hint}"


def _invalid(desc: str, reason: str) -> InvalidVideoError:
    return InvalidVideoError(f"Could not transcode video {desc}: {reason}", input_name=desc, reason=reason)


def _transcode(
    buf: io.RawIOBase,
    *,
    state: Deadline,
    desc: str,
    encoder: str,
    muxer: str,
    container: str,
    size: int,
    bitrate: int,
    fps: Fraction,
    keep_audio: bool,
    max_seconds: float | None,
    audio_bitrate: int,
    encoder_options: dict[str, str] | None,
) -> bytes:
    # metadata_errors="replace": corrupted metadata strings must not fail the transcode (UnicodeDecodeError).
    with av.open(buf, "r", metadata_errors="replace") as inp:
        state.stage = "transcoding"
        state.check()
        if not inp.streams.video:
            kinds = sorted({s.type for s in inp.streams}) or ["none"]
            raise _invalid(desc, f"it has no video stream (streams: {kinds})")
        in_video = inp.streams.video[0]
        in_audio = inp.streams.audio[0] if keep_audio and inp.streams.audio else None

        t0 = float(in_video.start_time * in_video.time_base) if in_video.start_time is not None else 0.0
        rate = in_video.average_rate or in_video.guessed_rate or fps
        in_frame_duration = 1.0 / float(rate)

        out_buf = io.BytesIO()
        out = None  # created lazily once the first frame tells the real frame size
        vres: _VideoResampler | None = None
        out_audio = None
        audio_backlog: list = []  # audio frames decoded before the output exists
        video_done = False
        audio_done = in_audio is None
        last_rel = 0.0
        max_slots = None if max_seconds is None else max(1, int(round(max_seconds * fps)))

        def open_output(first_frame: Any) -> None:
            nonlocal out, vres, out_audio
            state.stage = "setting up the encoder"
            width, height = _output_size(first_frame.width, first_frame.height, size)
            # bitexact: no random Matroska UIDs and no muxer version tag -> reproducible bytes.
            out = av.open(out_buf, "w", format=muxer, options={"fflags": "+bitexact"})
            vstream = out.add_stream(encoder, rate=fps, options=_encoder_options(encoder, encoder_options))
            vstream.width, vstream.height = width, height
            vstream.pix_fmt = "yuv420p"
            vstream.bit_rate = bitrate
            vstream.codec_context.time_base = Fraction(1) / fps
            vstream.codec_context.thread_count = 1  # deterministic output, see _ENCODER_DEFAULTS
            vres = _VideoResampler(vstream, fps, width, height, max_slots, deadline=state)
            if in_audio is not None:
                sample_rate = in_audio.codec_context.sample_rate or 48000
                audio_encoder = _AUDIO_ENCODERS[container]
                if audio_encoder == "libopus" or sample_rate not in _AAC_RATES:
                    sample_rate = 48000
                channels = in_audio.codec_context.channels or 2
                out_audio = out.add_stream(audio_encoder, rate=sample_rate)
                out_audio.layout = "mono" if channels == 1 else "stereo"
                out_audio.bit_rate = audio_bitrate
            state.stage = "transcoding"

        def encode_audio(frame: Any) -> None:
            nonlocal audio_done
            t = _frame_seconds(frame)
            if t is None:
                return
            rel = t - t0
            if max_seconds is not None and rel >= max_seconds:
                audio_done = True
                return
            if rel < 0:
                return
            frame.pts = int(round(rel * frame.sample_rate))
            frame.time_base = Fraction(1, frame.sample_rate)
            for packet in out_audio.encode(frame):
                out.mux(packet)

        streams = [in_video] + ([in_audio] if in_audio is not None else [])
        try:
            for packet in inp.demux(streams):
                state.check()
                if packet.stream is in_video:
                    if video_done:
                        continue
                    for frame in packet.decode():
                        state.check()
                        t = _frame_seconds(frame)
                        if t is not None:
                            rel = t - t0
                        else:  # no timestamps: assume the stream's nominal frame rate
                            rel = (vres.frames_in if vres else 0) * in_frame_duration
                        if max_seconds is not None and rel >= max_seconds and vres is not None:
                            video_done = True
                            break
                        if out is None:
                            open_output(frame)
                            for aframe in audio_backlog:
                                encode_audio(aframe)
                            audio_backlog.clear()
                        try:
                            packets = vres.push(frame, rel)
                        except ValueError as e:  # corrupted timestamps (not an FFmpegError)
                            if isinstance(e, av.error.FFmpegError):
                                raise
                            raise _invalid(desc, str(e)) from None
                        for out_packet in packets:
                            out.mux(out_packet)
                        last_rel = rel
                        if vres.full:
                            video_done = True
                            break
                elif not audio_done:
                    for frame in packet.decode():
                        state.check()
                        if out is None:
                            if len(audio_backlog) < _MAX_AUDIO_BACKLOG:
                                audio_backlog.append(frame)
                        else:
                            encode_audio(frame)
                if video_done and audio_done:
                    break

            if vres is None or vres.frames_in == 0:
                raise _invalid(desc, "no video frames could be decoded")
            state.stage = "finalising the output"
            state.check()
            if (last_rel + in_frame_duration) * vres.fps - vres.next_slot > MAX_FRAME_GAP_SECONDS * vres.fps and (
                vres.max_slots is None
            ):
                raise _invalid(
                    desc,
                    f"the last frame would be shown for {in_frame_duration:.6g} s (more than {MAX_FRAME_GAP_SECONDS:g} "
                    "s); the timestamps or the frame rate are corrupted",
                )
            for out_packet in vres.finish(last_rel + in_frame_duration):
                out.mux(out_packet)
            if out_audio is not None:
                for out_packet in out_audio.encode(None):
                    out.mux(out_packet)
            out.close()
            out = None
        finally:
            if out is not None:
                try:
                    out.close()
                except av.error.FFmpegError:
                    pass
    result = out_buf.getvalue()
    if not result:
        raise _invalid(desc, "the encoder produced no output")
    return result


def encode_frames(
    frames: Any,
    *,
    fps: Real = 25,
    codec: str = "h264",
    container: str = "mp4",
    bitrate: int = 200_000,
    encoder_options: dict[str, str] | None = None,
    audio: Any = None,
    audio_bitrate: int = 64_000,
) -> bytes:
    """Encode RGB frames into a video file in memory, with the same encoder settings as :func:`transcode_video`.

    Args:
        frames: ``uint8`` array or tensor ``(T, H, W, 3)`` (RGB). H and W must be even (yuv420p).
        fps: constant frame rate of the output.
        codec, container, bitrate, encoder_options: as for :func:`transcode_video`.
        audio: optional ``(sample_rate, samples)`` with ``samples`` a float32 array ``(channels, S)`` in [-1, 1]
            (1 or 2 channels), stored as AAC (mp4/mov/mkv) or Opus (webm) from time 0.
        audio_bitrate: audio bitrate in bits per second.

    Returns:
        The encoded file as ``bytes`` (reproducible: single-threaded encoder, bitexact muxer).
    """
    import numpy as np

    codec, container = validate_transcode_settings(
        codec=codec, container=container, size=2, bitrate=bitrate, fps=fps, keep_audio=audio is not None
    )
    frames = frames.numpy() if hasattr(frames, "numpy") else np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"frames must be a non-empty uint8 array (T, H, W, 3), got {frames.dtype} {frames.shape}")
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"frame height and width must be even for yuv420p, got {height}x{width}")
    fps_frac = Fraction(fps).limit_denominator(1_000_000)
    encoder = SUPPORTED_CODECS[codec]
    buf = io.BytesIO()
    with quiet_ffmpeg_logs():
        with av.open(buf, "w", format=SUPPORTED_CONTAINERS[container], options={"fflags": "+bitexact"}) as out:
            stream = out.add_stream(encoder, rate=fps_frac, options=_encoder_options(encoder, encoder_options))
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            stream.bit_rate = bitrate
            stream.codec_context.time_base = Fraction(1) / fps_frac
            stream.codec_context.thread_count = 1
            audio_stream = None
            if audio is not None:
                rate, samples = audio
                samples = np.ascontiguousarray(np.asarray(samples, dtype=np.float32))
                if samples.ndim != 2 or samples.shape[0] not in (1, 2):
                    raise ValueError(f"audio samples must be (channels, S) with 1 or 2 channels, got {samples.shape}")
                audio_encoder = _AUDIO_ENCODERS[container]
                out_rate = 48000 if audio_encoder == "libopus" or rate not in _AAC_RATES else int(rate)
                audio_stream = out.add_stream(audio_encoder, rate=out_rate)
                audio_stream.layout = "mono" if samples.shape[0] == 1 else "stereo"
                audio_stream.bit_rate = audio_bitrate
            for index, rgb in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(
                    format="yuv420p")
                frame.pts = index
                frame.time_base = stream.codec_context.time_base
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
            if audio_stream is not None:
                layout = "mono" if samples.shape[0] == 1 else "stereo"
                step = 1024
                for start in range(0, samples.shape[1], step):
                    piece = samples[:, start : start + step]
                    frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout=layout)
                    frame.sample_rate = int(rate)
                    frame.pts = start
                    frame.time_base = Fraction(1, int(rate))
                    for packet in audio_stream.encode(frame):
                        out.mux(packet)
                for packet in audio_stream.encode(None):
                    out.mux(packet)
    return buf.getvalue()
