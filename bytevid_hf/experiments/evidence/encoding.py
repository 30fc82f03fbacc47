"""One H.264 encoder setting for every class of a task, chosen so that the file size says nothing about the label.

All evidence clips are encoded by :func:`encode_clip` with PyAV's libx264 into an in-memory mp4 (``yuv420p``,
single-threaded, so the bytes are deterministic). Rate control is strict constant bitrate, as in the scene-cut task
(:mod:`bytevid_hf.data.synthetic`): ``nal-hrd=cbr`` with ``vbv-maxrate = vbv-bufsize = bitrate`` and filler data, and
a ``qpmin`` high enough that pictures stay under the per-frame budget, so the VBV buffer ends full and the size of a
clip is ``bitrate x duration`` plus container terms, whatever the frames show. Faster motion, a zoom or a reversed
clip changes how the budget is spent inside the stream, not how many bytes the file has.

The remaining lattice (same duration and bitrate -> same size) is smeared per clip, independently of the label:
the bitrate is jittered by ``+-bitrate_jitter`` and the initial buffer fullness (``vbv-init``) is drawn from
``vbv_init_range``. The size-only baseline of every task (:mod:`.size_baseline`) measures what is left.

Encoding variants (issue 18.3, "which bytes are learnable"): :data:`ENCODINGS` names the codec / container /
entropy-coding / GOP variants a task can be re-encoded with (:meth:`EncoderSettings.variant`), each with the same
per-clip rate draws and each keeping the size as uninformative as the codec allows:

* ``h264`` (the default above), ``h264-cavlc`` (x264 ``cabac=0``), ``h264-short-gop`` (``keyint=8``: an IDR every
  8 frames) — strict CBR with filler as above;
* ``h265``: libx265 in mp4, ``strict-cbr=1`` with ``hrd=1``, ``vbv-maxrate = vbv-bufsize = bitrate``, the same
  ``vbv-init`` and ``qpmin`` (measured: every class's frames give the same size to the byte);
* ``vp9-webm``: libvpx-vp9 in webm, CBR (``minrate = maxrate = b``, ``bufsize`` one second, realtime, ``cpu-used=8``,
  no lag, single thread). libvpx writes no filler and undershoots by a content-dependent amount (measured: 1x/2x/4x
  playback at 4.1/4.5/5.0 KB) or overshoots (up to ~1.16x on ``appearance``), so the file is padded to
  ``vp9_pad`` (1.35) x the CBR budget ``bitrate x duration / 8`` with an EBML Void
  element (the matroska muxer's ``reserve_index_space``, which holds the cues and voids the rest) — the container's
  counterpart of x264's filler NAL units. A clip whose stream alone exceeds the budget is left unpadded (its size
  then follows the content).
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

__all__ = ["ENCODINGS", "DEFAULT_ENCODING", "EncoderSettings", "encode_clip", "probe"]

#: Encoding variants by name: the fields of :class:`EncoderSettings` each one changes.
ENCODINGS: dict[str, dict[str, Any]] = {
    "h264": {},
    "h264-cavlc": {"cabac": False},
    "h264-short-gop": {"keyint": 8},
    "h265": {"codec": "h265"},
    "vp9-webm": {"codec": "vp9"},
}
DEFAULT_ENCODING = "h264"
#: codec -> (PyAV encoder, container format, decoder name as PyAV reports it, container names as PyAV reports them)
CODECS = {"h264": ("libx264", "mp4", "h264", "mov,mp4,m4a,3gp,3g2,mj2"),
          "h265": ("libx265", "mp4", "hevc", "mov,mp4,m4a,3gp,3g2,mj2"),
          "vp9": ("libvpx-vp9", "webm", "vp9", "matroska,webm")}


@dataclass(frozen=True)
class EncoderSettings:
    """libx264 settings shared by all classes of a task.

    Attributes:
        fps: frame rate written into the stream.
        bitrate: nominal constant bitrate (bits/s); each clip uses ``bitrate * (1 + u)``, ``u`` uniform in
            ``[-bitrate_jitter, bitrate_jitter]`` (whole kbit/s), drawn independently of the label.
        bitrate_jitter: relative jitter of the bitrate (smears the size lattice).
        vbv_init_range: range of x264's ``vbv-init`` (initial VBV fullness), drawn per clip. Clips of 12-16 frames
            are shorter than the 1 s buffer: started below ~0.75 full, the buffer never fills, no filler is written
            and the size follows the content (measured: 1x/2x/4x playback at 2.8/3.2/3.7 KB with ``vbv-init=0.5``,
            identical to the byte from 0.8 up), hence the high range.
        qpmin: minimum quantiser; keeps P pictures under the per-frame budget so the buffer ends full.
        preset: x264 preset.
        keyint: maximum GOP length (longer than any clip: one IDR at the start, plus detected scene cuts).
        bframes: B-frames (0: every clip is I P P P ...).
        codec: ``"h264"`` (libx264, mp4), ``"h265"`` (libx265, mp4) or ``"vp9"`` (libvpx-vp9, webm).
        cabac: H.264 entropy coding: CABAC (True) or CAVLC (False, x264 ``cabac=0``).
        vp9_pad: VP9 clips are padded to ``vp9_pad`` times the CBR budget (libvpx overshoots it on some clips:
            measured up to ~1.16x on ``appearance``).
        scenecut, min_keyint: x264 / x265 scene-cut threshold and minimum GOP (None: the encoder's default; the
            scene-cut task sets them to its own).
    """

    fps: int = 25
    bitrate: int = 96_000
    bitrate_jitter: float = 0.1
    vbv_init_range: tuple[float, float] = (0.82, 0.95)
    qpmin: int = 30
    preset: str = "veryfast"
    keyint: int = 250
    bframes: int = 0
    codec: str = "h264"
    cabac: bool = True
    scenecut: int | None = None
    min_keyint: int | None = None
    vp9_pad: float = 1.35

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise ValueError(f"unknown codec {self.codec!r}; available: {', '.join(CODECS)}")
        if not self.cabac and self.codec != "h264":
            raise ValueError("CAVLC (cabac=False) is an H.264 setting")

    def variant(self, encoding: str) -> "EncoderSettings":
        """These settings re-targeted at the named encoding variant (:data:`ENCODINGS`)."""
        if encoding not in ENCODINGS:
            raise ValueError(f"unknown encoding {encoding!r}; available: {', '.join(ENCODINGS)}")
        return replace(self, **ENCODINGS[encoding])

    def draw(self, rng: np.random.Generator) -> dict[str, Any]:
        """The per-clip rate-control draws (bitrate, vbv_init); call with a generator independent of the label."""
        jitter = float(rng.uniform(-1.0, 1.0)) * self.bitrate_jitter
        return {
            "bitrate": int(round(self.bitrate * (1.0 + jitter) / 1000)) * 1000,
            "vbv_init": round(float(rng.uniform(*self.vbv_init_range)), 4),
        }

    def x264_params(self, bitrate: int, vbv_init: float) -> str:
        kbps = max(1, int(round(bitrate / 1000)))
        params = {
            "keyint": self.keyint,
            "bframes": self.bframes,
            "threads": 1,
            "nal-hrd": "cbr",
            "vbv-maxrate": kbps,
            "vbv-bufsize": kbps,
            "filler": 1,
            "vbv-init": vbv_init,
            "qpmin": self.qpmin,
        }
        if not self.cabac:
            params["cabac"] = 0
        if self.scenecut is not None:
            params["scenecut"] = self.scenecut
        if self.min_keyint is not None:
            params["min-keyint"] = self.min_keyint
        return ":".join(f"{k}={v}" for k, v in params.items())

    def x265_params(self, bitrate: int, vbv_init: float) -> str:
        kbps = max(1, int(round(bitrate / 1000)))
        params = {
            "keyint": self.keyint,
            "bframes": self.bframes,
            "pools": 1,
            "frame-threads": 1,
            "wpp": 0,
            "hrd": 1,
            "strict-cbr": 1,
            "vbv-maxrate": kbps,
            "vbv-bufsize": kbps,
            "vbv-init": vbv_init,
            "qpmin": self.qpmin,
            "log-level": "none",
        }
        if self.scenecut is not None:
            params["scenecut"] = self.scenecut
        if self.min_keyint is not None:
            params["min-keyint"] = self.min_keyint
        return ":".join(f"{k}={v}" for k, v in params.items())

    def vp9_options(self, bitrate: int) -> dict[str, str]:
        return {"minrate": str(int(bitrate)), "maxrate": str(int(bitrate)), "bufsize": str(int(bitrate)),
                "deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "row-mt": "0", "threads": "1",
                "undershoot-pct": "0", "g": str(self.keyint)}

    def budget_bytes(self, bitrate: int, num_frames: int) -> int:
        """What a VP9 clip is padded to: ``vp9_pad x bitrate x duration / 8`` bytes."""
        return int(round(self.vp9_pad * bitrate * num_frames / self.fps / 8))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def encode_clip(frames: np.ndarray, settings: EncoderSettings, bitrate: int, vbv_init: float) -> bytes:
    """Encode RGB frames ``uint8[T, H, W, 3]`` (even ``H``, ``W``) into mp4 (webm for VP9) bytes with ``settings``."""
    frames = _check(frames)
    if settings.codec != "vp9":
        return _encode(frames, settings, bitrate, vbv_init)
    # VP9: pad to the CBR budget with the muxer's reserved (Void) space; the padding is linear in the reservation
    probe_reserve = 64
    first = _encode(frames, settings, bitrate, vbv_init, reserve=probe_reserve)
    reserve = probe_reserve + settings.budget_bytes(bitrate, len(frames)) - len(first)
    if reserve <= probe_reserve:
        return first if reserve == probe_reserve else _encode(frames, settings, bitrate, vbv_init)
    return _encode(frames, settings, bitrate, vbv_init, reserve=reserve)


def _check(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8[T, H, W, 3], got {frames.dtype}{list(frames.shape)}")
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"frame sides must be even (yuv420p), got {frames.shape[2]}x{frames.shape[1]}")
    return frames


def _encode(frames: np.ndarray, settings: EncoderSettings, bitrate: int, vbv_init: float, reserve: int = 0) -> bytes:
    import av

    from ...processing.ffmpeg_logs import quiet_ffmpeg_logs

    encoder, fmt = CODECS[settings.codec][:2]
    buf = io.BytesIO()
    with quiet_ffmpeg_logs():
        with av.open(buf, mode="w", format=fmt,
                     options={"reserve_index_space": str(int(reserve))} if reserve else {}) as container:
            stream = container.add_stream(encoder, rate=settings.fps)
            stream.width = frames.shape[2]
            stream.height = frames.shape[1]
            stream.pix_fmt = "yuv420p"
            stream.bit_rate = int(bitrate)
            if settings.codec == "h264":
                stream.options = {"preset": settings.preset, "x264-params": settings.x264_params(bitrate, vbv_init)}
            elif settings.codec == "h265":
                stream.options = {"preset": settings.preset, "x265-params": settings.x265_params(bitrate, vbv_init)}
            else:
                stream.options = settings.vp9_options(bitrate)
            for rgb in frames:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return buf.getvalue()


def probe(video: bytes) -> dict[str, Any]:
    """What a clip is: ``{"codec", "format", "frames", "keyframes"}`` (decoder name, container format names as PyAV
    reports them, number of decoded frames, indices of the key-frame packets in decode order: display order, as no variant uses
    B-frames)."""
    import av

    from ...processing.ffmpeg_logs import quiet_ffmpeg_logs

    with quiet_ffmpeg_logs(), av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        keyframes, frames, index = [], 0, 0
        for packet in container.demux(stream):
            if packet.size == 0:  # the flushing packet
                continue
            if packet.is_keyframe:
                keyframes.append(index)
            index += 1
            frames += len(packet.decode())
        return {"codec": stream.codec_context.name, "format": container.format.name, "frames": frames,
                "keyframes": keyframes}
