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
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["EncoderSettings", "encode_clip"]


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
    """

    fps: int = 25
    bitrate: int = 96_000
    bitrate_jitter: float = 0.1
    vbv_init_range: tuple[float, float] = (0.82, 0.95)
    qpmin: int = 30
    preset: str = "veryfast"
    keyint: int = 250
    bframes: int = 0

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
        return ":".join(f"{k}={v}" for k, v in params.items())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def encode_clip(frames: np.ndarray, settings: EncoderSettings, bitrate: int, vbv_init: float) -> bytes:
    """Encode RGB frames ``uint8[T, H, W, 3]`` (even ``H``, ``W``) into mp4 bytes with ``settings``."""
    import av

    from ...processing.ffmpeg_logs import quiet_ffmpeg_logs

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8[T, H, W, 3], got {frames.dtype}{list(frames.shape)}")
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"frame sides must be even (yuv420p), got {frames.shape[2]}x{frames.shape[1]}")
    buf = io.BytesIO()
    with quiet_ffmpeg_logs():
        with av.open(buf, mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=settings.fps)
            stream.width = frames.shape[2]
            stream.height = frames.shape[1]
            stream.pix_fmt = "yuv420p"
            stream.bit_rate = int(bitrate)
            stream.options = {"preset": settings.preset, "x264-params": settings.x264_params(bitrate, vbv_init)}
            for rgb in frames:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return buf.getvalue()
