"""Re-encode a video into a canonical format (by default the paper's: H.264 mp4, 384 px, 200 kbps, 25 fps).

Byte models see the encoded file, so the same content stored with different codecs, sizes or
bitrates looks completely different to them. :func:`transcode_video` normalises a video with PyAV:
decode (:mod:`.decode`) -> resize (shorter side = ``size``, :mod:`.frame_size`) -> resample to a
constant ``fps`` (:mod:`.frame_rate`) -> encode at ``bitrate`` into an in-memory ``container``.
Codec log output never reaches the terminal (see :mod:`.ffmpeg_logs`), every decoding/encoding
failure is reported as an :class:`~.errors.InvalidVideoError` (a ``ValueError``) that names the
input, and one wall-clock deadline (``timeout``, checked between packets, frames and encoded
frames and on every demuxer read; see :mod:`.deadline`) bounds the time spent on one input.
:func:`encode_frames` writes RGB frames with the same encoder settings.
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
import numpy as np
from av.video.frame import PictureType

from .deadline import DEFAULT_DECODE_TIMEOUT, Deadline, check_timeout
from .decode import invalid_video, open_video
from .ffmpeg_logs import QUIET_ENCODER_PARAMS, quiet_ffmpeg_logs
from .frame_rate import MAX_FPS, ConstantRateResampler, Run, as_fraction, frame_count
from .frame_size import MAX_SHORT_SIDE, short_side_size
from .io import decoded_input_name, read_video_bytes

__all__ = [
    "transcode_video",
    "CANONICAL_SETTINGS",
    "MAX_BITRATE",
    "SUPPORTED_CODECS",
    "SUPPORTED_CONTAINERS",
    "validate_transcode_settings",
    "encode_frames",
]

#: The paper's canonical format: H.264 in mp4, shorter side 384 px, 200 kbit/s, 25 fps, no audio.
#: Largest video bitrate a setting may ask for, in bit/s: 1 Gbit/s, ten times a high-quality 4K stream (the
#: canonical setting is 200 kbit/s).
MAX_BITRATE = 1_000_000_000

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
            container cannot hold, a non-positive max_seconds, or size/bitrate/fps outside their bounds
            (``size`` 2..:data:`~.frame_size.MAX_SHORT_SIDE`, ``bitrate`` 1..:data:`MAX_BITRATE`, ``fps``
            in (0, :data:`~.frame_rate.MAX_FPS`]).
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
    for key, value, minimum, maximum in (("size", size, 2, MAX_SHORT_SIDE), ("bitrate", bitrate, 1, MAX_BITRATE)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{key} must be an int, got {type(value).__name__} {value!r}")
        if not minimum <= value <= maximum:
            raise ValueError(f"{key} must be an int from {minimum} to {maximum}, got {value}")
    if isinstance(fps, bool) or not isinstance(fps, Real) or not math.isfinite(fps) or not 0 < fps <= MAX_FPS:
        raise ValueError(f"fps must be a number > 0 and <= {MAX_FPS}, got {fps!r}")
    if not isinstance(keep_audio, bool):
        raise TypeError(f"keep_audio must be a bool, got {type(keep_audio).__name__} {keep_audio!r}")
    if max_seconds is not None and (
        isinstance(max_seconds, bool) or not isinstance(max_seconds, Real) or not max_seconds > 0
    ):
        raise ValueError(f"max_seconds must be a positive number or None, got {max_seconds!r}")
    return codec, container


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

    Steps: decode the first video stream (:mod:`.decode`); resize every frame so the *shorter*
    side equals ``size`` (aspect ratio kept, each side rounded half up to an even number — the
    rule of :func:`~.frame_size.short_side_size` with ``multiple=2``, so an odd ``size`` gives
    ``size + 1`` — pixel format yuv420p); resample to a constant ``fps`` by timestamp
    (:class:`~.frame_rate.ConstantRateResampler`: frames dropped or duplicated); encode with
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
    deadline = Deadline(timeout, name, action="transcoding")  # also records the current stage
    max_seconds = None if max_seconds is None else float(max_seconds)
    resampler = ConstantRateResampler(fps, None if max_seconds is None else frame_count(max_seconds, fps))
    buf = io.BytesIO()
    with open_video(data, operation="transcode", desc=name, deadline=deadline, audio=keep_audio,
                    max_seconds=max_seconds) as decoder:
        output: _OutputFile | None = None
        try:
            last_seconds = 0.0
            for frame, seconds, is_video in decoder:
                if output is None:  # the first item is the first video frame: it tells the output size
                    deadline.stage = "setting up the encoder"
                    audio = decoder.audio_stream.codec_context if decoder.audio_stream is not None else None
                    output = _OutputFile(
                        buf, codec=codec, container=container, fps=fps, bitrate=bitrate,
                        size=short_side_size(frame.width, frame.height, size, multiple=2),
                        encoder_options=encoder_options,
                        audio_rate=None if audio is None else audio.sample_rate or 48000,
                        audio_channels=None if audio is None else audio.channels or 2,
                        audio_bitrate=audio_bitrate,
                    )
                deadline.stage = "encoding"
                if not is_video:
                    if seconds is not None and seconds >= 0:  # audio before the first video frame is cut
                        output.write_audio(frame, seconds)
                elif not resampler.full:
                    output.write_run(resampler.push(frame, seconds), deadline)
                    last_seconds = seconds
            deadline.stage = "finalising the output"
            output.write_run(resampler.finish(last_seconds + decoder.frame_duration), deadline)
            output.close()
        finally:
            if output is not None:
                output.abort()
    result = buf.getvalue()
    if not result:
        raise invalid_video("transcode", name, "the encoder produced no output")
    return result


class _OutputFile:
    """An in-memory output file: one video stream (yuv420p, ``size`` = (width, height)) and, with ``audio_rate``,
    one audio stream, encoded deterministically (single-threaded encoders, bitexact muxer).

    Audio is AAC (mp4/mov/mkv) or Opus (webm); a sample rate AAC does not support (or any, for Opus) becomes 48 kHz.
    """

    def __init__(self, buf: io.BytesIO, *, codec: str, container: str, fps: Real, bitrate: int, size: tuple[int, int],
                 encoder_options: dict[str, str] | None, audio_rate: int | None = None,
                 audio_channels: int | None = None, audio_bitrate: int = 64_000) -> None:
        fps = as_fraction(fps)
        encoder = SUPPORTED_CODECS[codec]
        # bitexact: no random Matroska UIDs and no muxer version tag -> reproducible bytes.
        self.container = av.open(buf, "w", format=SUPPORTED_CONTAINERS[container], options={"fflags": "+bitexact"})
        self.video = self.container.add_stream(encoder, rate=fps, options=_encoder_options(encoder, encoder_options))
        self.width, self.height = size
        self.video.width, self.video.height = size
        self.video.pix_fmt = "yuv420p"
        self.video.bit_rate = bitrate
        self.video.codec_context.time_base = Fraction(1) / fps
        self.video.codec_context.thread_count = 1  # deterministic output, see _ENCODER_DEFAULTS
        self.audio = None
        if audio_rate is not None:
            audio_encoder = _AUDIO_ENCODERS[container]
            if audio_encoder == "libopus" or audio_rate not in _AAC_RATES:
                audio_rate = 48000
            self.audio = self.container.add_stream(audio_encoder, rate=audio_rate)
            self.audio.layout = "mono" if audio_channels == 1 else "stereo"
            self.audio.bit_rate = audio_bitrate

    def write_run(self, run: Run | None, deadline: Deadline | None = None) -> None:
        """Encode the video frame of ``run`` (any size and pixel format) once per slot of the run."""
        if run is None:
            return
        out = run.item.reformat(width=self.width, height=self.height, format="yuv420p")
        out.time_base = self.video.codec_context.time_base
        # reformat() copies the source's picture type; a stale I/P/B type would *force* frame
        # types on the encoder (x264 warns "forced frame type ... was changed"). Let it choose.
        out.pict_type = PictureType.NONE
        for slot in run.slots:
            if deadline is not None:  # a corrupted timestamp can ask for many repeats
                deadline.check()
            out.pts = slot  # the encoder keeps its own reference, so re-stamping is safe
            for packet in self.video.encode(out):
                self.container.mux(packet)

    def write_audio(self, frame: Any, seconds: float) -> None:
        """Encode an ``av.AudioFrame`` shown from ``seconds`` (any sample format, rate and layout)."""
        frame.pts = int(round(seconds * frame.sample_rate))
        frame.time_base = Fraction(1, frame.sample_rate)
        for packet in self.audio.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        """Flush the encoders and finish the file."""
        for stream in (self.video, self.audio):
            if stream is not None:
                for packet in stream.encode(None):
                    self.container.mux(packet)
        self.container.close()
        self._release()

    def abort(self) -> None:
        """Close the file after a failure (errors ignored); nothing once :meth:`close` succeeded."""
        if self.container is not None:
            try:
                self.container.close()
            except av.error.FFmpegError:
                pass
        self._release()

    def _release(self) -> None:
        # Freeing an encoder prints its statistics (x264): drop the last references now, while the caller still
        # holds FFmpeg's logs quiet, rather than whenever this object is garbage-collected.
        self.container = self.video = self.audio = None


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
    codec, container = validate_transcode_settings(
        codec=codec, container=container, size=2, bitrate=bitrate, fps=fps, keep_audio=audio is not None
    )
    frames = frames.numpy() if hasattr(frames, "numpy") else np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"frames must be a non-empty uint8 array (T, H, W, 3), got {frames.dtype} {frames.shape}")
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"frame height and width must be even for yuv420p, got {height}x{width}")
    if audio is not None:
        rate, samples = audio
        samples = np.ascontiguousarray(np.asarray(samples, dtype=np.float32))
        if samples.ndim != 2 or samples.shape[0] not in (1, 2):
            raise ValueError(f"audio samples must be (channels, S) with 1 or 2 channels, got {samples.shape}")
        rate = int(rate)
    buf = io.BytesIO()
    with quiet_ffmpeg_logs():
        output = _OutputFile(buf, codec=codec, container=container, fps=fps, bitrate=bitrate, size=(width, height),
                             encoder_options=encoder_options, audio_rate=None if audio is None else rate,
                             audio_channels=None if audio is None else samples.shape[0], audio_bitrate=audio_bitrate)
        try:
            for index, rgb in enumerate(frames):  # (H, W, 3) uint8
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                output.write_run(Run(frame, range(index, index + 1)))
            if audio is not None:
                layout = "mono" if samples.shape[0] == 1 else "stereo"
                for start in range(0, samples.shape[1], 1024):
                    frame = av.AudioFrame.from_ndarray(samples[:, start : start + 1024], format="fltp", layout=layout)
                    frame.sample_rate = rate
                    output.write_audio(frame, start / rate)
            output.close()
        finally:
            output.abort()
    return buf.getvalue()
