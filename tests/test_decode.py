"""The one decode path of bytevid_hf.processing (processing/decode.py) and its constant-frame-rate resampler
(processing/frame_rate.py).

References are independent of the code under test: the resampler is compared with FFmpeg's own ``fps`` filter on
frames whose index is written into their pixels, and the decoder's times with the timestamps written into a file
here (and read back with plain PyAV).
"""

from __future__ import annotations

import io
import random
from fractions import Fraction

import av
import av.error
import av.filter
import numpy as np
import pytest

from bytevid_hf.processing.deadline import Deadline
from bytevid_hf.processing.decode import open_video, video_errors
from bytevid_hf.processing.errors import InvalidVideoError, VideoDecodeTimeoutError
from bytevid_hf.processing.frame_rate import MAX_FRAME_GAP_SECONDS, ConstantRateResampler, TimestampError, frame_count
from bytevid_hf.processing.ffmpeg_logs import quiet_ffmpeg_logs


# --------------------------------------------------------------------------- the resampler


def ffmpeg_fps_filter(ticks: list[int], time_base: Fraction, fps, last_duration: int) -> list[int]:
    """Which input frame FFmpeg's ``fps`` filter (``round=near``, ``start_time=0``) shows in each output frame."""
    graph = av.filter.Graph()
    source = graph.add_buffer(width=16, height=16, format="gray", time_base=time_base)
    fps_filter = graph.add("fps", f"fps={fps}:start_time=0:round=near")
    sink = graph.add("buffersink")
    source.link_to(fps_filter)
    fps_filter.link_to(sink)
    graph.configure()
    shown = []

    def drain():
        while True:
            try:
                shown.append(int(graph.pull().to_ndarray()[0, 0]))  # the pixel value is the input index
            except (av.error.BlockingIOError, av.error.EOFError):
                return

    for index, tick in enumerate(ticks):
        frame = av.VideoFrame.from_ndarray(np.full((16, 16), index, np.uint8), format="gray")
        frame.pts, frame.time_base = tick, time_base
        frame.duration = last_duration if index == len(ticks) - 1 else 0  # the end of the stream
        graph.push(frame)
        drain()
    graph.push(None)
    drain()
    return shown


def resampled(times: list, fps, end, max_frames: int | None = None) -> list[int]:
    resampler = ConstantRateResampler(fps, max_frames)
    runs = [resampler.push(i, t) for i, t in enumerate(times)] + [resampler.finish(end)]
    return [run.item for run in runs if run is not None for _ in run.slots]


def test_resampler_shows_the_frames_ffmpegs_fps_filter_shows():
    rng = random.Random(0)
    compared = 0
    for _ in range(120):
        time_base = Fraction(1, rng.choice([1000, 30000, 90000]))
        count = rng.randint(1, 30)
        ticks = sorted(rng.sample(range(1, 4 * time_base.denominator), count - 1))
        ticks = [0] + ticks
        fps = rng.choice([5, 10, 12.5, 24, 25, 30, Fraction(30000, 1001)])
        duration = rng.randint(1, time_base.denominator // 5)
        reference = ffmpeg_fps_filter(ticks, time_base, fps, duration)
        ours = resampled([t * time_base for t in ticks], fps, (ticks[-1] + duration) * time_base)
        if count - 1 in reference:
            assert ours == reference, (ticks, time_base, fps, duration)
            compared += 1
        else:  # the one documented difference: FFmpeg may drop the last frame at the end; we show it once
            assert ours == reference + [count - 1], (ticks, time_base, fps, duration)
    assert compared > 60  # most cases are compared exactly


def test_resampler_rules_by_hand():
    # 10 fps frames (0.0, 0.1, ... 0.5 s) to 20 fps: each twice; to 5 fps: every other frame, nearest slot half up
    tenths = [Fraction(i, 10) for i in range(6)]
    assert resampled(tenths, 20, Fraction(6, 10)) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # slots of frames 1..5: 0.5 -> 1, 1, 1.5 -> 2, 2, 2.5 -> 3 (half up); of two frames in one slot the later is shown
    assert resampled(tenths, 5, Fraction(6, 10)) == [0, 2, 4, 5]
    # the first frame always takes slot 0 (and fills the time before it); max_frames caps the output
    assert resampled([Fraction(1), Fraction(11, 10)], 10, Fraction(12, 10)) == [0] * 11 + [1]
    assert resampled(tenths, 20, Fraction(6, 10), max_frames=3) == [0, 0, 1]
    resampler = ConstantRateResampler(10, max_frames=1)
    assert resampler.push("a", 0) is None and not resampler.full
    assert resampler.push("b", 5.0) == ("a", range(0, 1)) and resampler.full
    assert frame_count(0.5, 25) == 13 and frame_count(1.0, Fraction(30000, 1001)) == 30 and frame_count(1e-9, 25) == 1


def test_resampler_reports_impossible_gaps():
    resampler = ConstantRateResampler(25)
    resampler.push(0, 0.0)
    with pytest.raises(TimestampError, match="timestamps or the frame rate are corrupted"):
        resampler.push(1, MAX_FRAME_GAP_SECONDS + 1)
    resampler = ConstantRateResampler(25)
    resampler.push(0, 0.0)
    with pytest.raises(TimestampError, match="the last frame would be shown"):
        resampler.finish(2 * MAX_FRAME_GAP_SECONDS)
    capped = ConstantRateResampler(25, max_frames=10)  # what max_frames cuts off is never shown: not a gap
    capped.push(0, 0.0)
    assert capped.push(1, 10 * MAX_FRAME_GAP_SECONDS).slots == range(0, 10) and capped.full


# --------------------------------------------------------------------------- the decoder


def _vfr_mp4(pts: list[int], time_base: Fraction, audio: bool = False) -> bytes:
    """Lossless H.264 frames with the given timestamps (frame i is grey level 20 * i), optionally with AAC audio."""
    buf = io.BytesIO()
    with quiet_ffmpeg_logs(), av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", options={"qp": "0", "bf": "0"})
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        stream.time_base = stream.codec_context.time_base = time_base
        audio_stream = out.add_stream("aac", rate=48000, layout="mono") if audio else None
        for i, p in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 20 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = p, time_base
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        if audio_stream is not None:
            for start in range(0, 48000, 1024):
                frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = 48000, start, Fraction(1, 48000)
                for packet in audio_stream.encode(frame):
                    out.mux(packet)
            for packet in audio_stream.encode(None):
                out.mux(packet)
    return buf.getvalue()


def _decode(data: bytes, **kwargs) -> list:
    deadline = Deadline(None, "clip")
    with open_video(data, operation="decode", desc="clip", deadline=deadline, **kwargs) as decoder:
        return [(item.is_video, item.seconds, item.frame) for item in decoder], decoder.frame_duration


def test_decoder_times_are_exact_and_relative_to_the_first_frame():
    time_base = Fraction(1, 1000)
    pts = [40, 80, 200, 210, 400, 1000]  # variable frame rate, not starting at 0
    data = _vfr_mp4(pts, time_base)
    with av.open(io.BytesIO(data)) as container:  # what plain PyAV reads back (the muxer may shift all times)
        stored = [f.pts * Fraction(f.time_base) for f in container.decode(video=0)]
    items, frame_duration = _decode(data)
    assert [seconds for _, seconds, _ in items] == [t - stored[0] for t in stored]
    assert all(isinstance(seconds, Fraction) for _, seconds, _ in items)
    levels = [int(frame.to_ndarray(format="rgb24")[0, 0, 0]) for _, _, frame in items]
    assert np.abs(np.subtract(levels, [20 * i for i in range(6)])).max() <= 2  # in order (RGB<->YUV rounding)
    assert isinstance(frame_duration, Fraction) and frame_duration > 0
    # max_seconds keeps the frames shown before it, and always the first one
    assert len(_decode(data, max_seconds=0.17)[0]) == 3  # 0, 0.04, 0.16 (0.17 is not before 0.17)
    assert len(_decode(data, max_seconds=0.1701)[0]) == 4
    assert len(_decode(data, max_seconds=0.001)[0]) == 1


def test_decoder_audio_is_timed_from_the_first_video_frame(bunny_mp4):
    data = bunny_mp4.read_bytes()
    with av.open(io.BytesIO(data)) as container:
        first_video = next(iter(container.decode(video=0))).time
    with av.open(io.BytesIO(data)) as container:
        audio_times = [f.time - first_video for f in container.decode(audio=0)]
    items, _ = _decode(data, audio=True, max_seconds=1.0)
    assert items[0][0]  # the first item is a video frame, even if audio comes first in the file
    audio = [float(seconds) for is_video, seconds, _ in items if not is_video]
    expected = [t for t in audio_times if t < 1.0]
    np.testing.assert_allclose(audio, expected, atol=1e-9)  # every audio frame before max_seconds, in order
    assert max(float(s) for v, s, _ in items if v) < 1.0
    assert all(is_video for is_video, _, _ in _decode(data, max_seconds=0.2)[0])  # audio only on request


def test_decoder_maps_every_failure_to_one_error(bikes_mp4):
    garbage = b"not a video" * 20
    with pytest.raises(InvalidVideoError, match=r"^Could not decode video clip: .*while opening the input.*not a video") \
            as excinfo:
        _decode(garbage)
    assert isinstance(excinfo.value.__cause__, av.error.FFmpegError)
    assert excinfo.value.input_name == "clip" and "not a video" in excinfo.value.reason
    audio_only = io.BytesIO()
    with av.open(audio_only, "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        for packet in list(stream.encode(frame)) + list(stream.encode(None)):
            out.mux(packet)
    with pytest.raises(InvalidVideoError, match=r"no video stream \(streams: \['audio'\]\)"):
        _decode(audio_only.getvalue())
    # failures of the caller's own PyAV work inside the block, and corrupted timestamps, are mapped the same way
    deadline = Deadline(None, "clip")
    with pytest.raises(InvalidVideoError, match=r"^Could not transcode video clip: .* while encoding \(\w+\)$") \
            as excinfo:
        with video_errors("transcode", "clip", deadline):
            deadline.stage = "encoding"
            av.open(io.BytesIO(b"junk" * 10))
    assert isinstance(excinfo.value.__cause__, av.error.FFmpegError)  # no "not a video" hint outside reading stages
    with pytest.raises(InvalidVideoError, match="^Could not decode video clip: one frame would be shown") as excinfo:
        with video_errors("decode", "clip", deadline):
            resampler = ConstantRateResampler(25)
            resampler.push(0, 0)
            resampler.push(1, 10 * MAX_FRAME_GAP_SECONDS)
    assert isinstance(excinfo.value.__cause__, TimestampError)
    # one deadline over open, demux and decode
    with pytest.raises(VideoDecodeTimeoutError, match="bikes"):
        with open_video(bikes_mp4.read_bytes(), operation="decode", desc="bikes",
                        deadline=Deadline(1e-9, "bikes")) as decoder:
            list(decoder)
