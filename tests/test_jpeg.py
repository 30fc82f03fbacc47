"""Tests for JPEG-bytes mode: bytevid_hf.processing.jpeg and BytesVideoProcessor(input_format="jpeg").

References are computed independently of the package where possible: JPEGs are decoded with
torchvision / Pillow, the test video is written with PyAV here, its frames are decoded with PyAV
here, and concatenated JPEG streams are also read back with FFmpeg's own ``mjpeg`` demuxer.
"""

from __future__ import annotations

import io
import json
from fractions import Fraction

import av
import av.error
import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.io import decode_jpeg

from bytevid_hf.processing import BytesVideoProcessor
from bytevid_hf.processing.jpeg import (
    encode_jpeg,
    frames_to_jpeg_bytes,
    split_jpeg_stream,
    video_to_jpeg_bytes,
)

# torchvision 0.29 deprecates its image codecs; here it is only the independent reference decoder.
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding:DeprecationWarning")

# --------------------------------------------------------------------------- helpers

COLOURS = [(220, 30, 30), (30, 200, 40), (40, 40, 210), (240, 240, 240), (20, 20, 20), (200, 180, 40)]
VIDEO_FPS = 10


def smooth_image(height: int = 48, width: int = 64) -> np.ndarray:
    """A smooth RGB test pattern (gradients), which JPEG reproduces closely."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 255 * x / (width - 1)
    g = 255 * y / (height - 1)
    b = 128 + 100 * np.sin(x / 9.0) * np.cos(y / 7.0)
    return np.clip(np.stack([r, g, b], axis=-1) + 0.5, 0, 255).astype(np.uint8)


def decode(data: bytes) -> np.ndarray:
    """JPEG bytes -> (H, W, 3) uint8 with torchvision's decoder (independent of the package)."""
    return decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8)).permute(1, 2, 0).numpy()


def mjpeg_frames(stream: bytes) -> list[np.ndarray]:
    """Read concatenated JPEGs with FFmpeg's mjpeg demuxer: one RGB frame per JPEG."""
    with av.open(io.BytesIO(stream), format="mjpeg") as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def mean_colour(frame: np.ndarray) -> np.ndarray:
    return frame.reshape(-1, 3).astype(np.float64).mean(0)


@pytest.fixture(scope="module")
def solid_mp4() -> bytes:
    """Six solid-colour 32x32 frames at 10 fps, H.264 in mp4, written with PyAV."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=VIDEO_FPS, options={"crf": "8"})
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, VIDEO_FPS)
        for i, colour in enumerate(COLOURS):
            rgb = np.empty((32, 32, 3), np.uint8)
            rgb[:] = colour
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            frame.time_base = stream.codec_context.time_base
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


@pytest.fixture(scope="module")
def solid_frames(solid_mp4) -> np.ndarray:
    """The test video's frames, decoded with PyAV here: (6, 32, 32, 3) uint8."""
    with av.open(io.BytesIO(solid_mp4)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


# --------------------------------------------------------------------------- encode_jpeg


def test_encode_jpeg_markers_and_round_trip():
    image = smooth_image()
    data = encode_jpeg(image, quality=95)
    assert isinstance(data, bytes)
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    decoded = decode(data)
    assert decoded.shape == image.shape
    error = np.abs(decoded.astype(np.int16) - image.astype(np.int16))
    assert error.mean() < 2.0 and error.max() < 40
    with Image.open(io.BytesIO(data)) as pil:  # a second decoder agrees
        assert pil.format == "JPEG" and pil.size == (64, 48) and pil.mode == "RGB"
        assert np.abs(np.asarray(pil).astype(np.int16) - decoded).max() <= 2


def test_encode_jpeg_input_types_give_the_same_bytes(tmp_path):
    image = smooth_image()
    reference = encode_jpeg(image)
    assert encode_jpeg(Image.fromarray(image)) == reference
    assert encode_jpeg(torch.from_numpy(image).permute(2, 0, 1)) == reference  # (3, H, W)
    assert encode_jpeg(torch.from_numpy(image)) == reference  # (H, W, 3)
    assert encode_jpeg(np.ascontiguousarray(image.transpose(2, 0, 1))) == reference  # unambiguous (3, H, W)
    # An encoded (lossless) image file is decoded first: path, bytes and file object.
    png = io.BytesIO()
    Image.fromarray(image).save(png, format="PNG")
    (tmp_path / "a.png").write_bytes(png.getvalue())
    assert encode_jpeg(tmp_path / "a.png") == reference
    assert encode_jpeg(png.getvalue()) == reference
    assert encode_jpeg(io.BytesIO(png.getvalue())) == reference
    # Grayscale and RGBA become 3-component JPEGs.
    gray = image[..., 1]
    for value in (gray, gray[..., None], Image.fromarray(gray)):
        decoded = decode(encode_jpeg(value, quality=95))
        assert decoded.shape == (48, 64, 3)
        assert np.abs(decoded.astype(np.int16) - gray[..., None]).mean() < 2.0
    rgba = Image.fromarray(np.concatenate([image, np.full((48, 64, 1), 255, np.uint8)], -1))
    assert encode_jpeg(rgba) == reference


def test_encode_jpeg_is_deterministic_and_quality_matters():
    image = smooth_image()
    assert encode_jpeg(image, quality=60) == encode_jpeg(image.copy(), quality=60)
    low, high = encode_jpeg(image, quality=20), encode_jpeg(image, quality=95)
    assert low != high and len(low) < len(high)
    err = {q: np.abs(decode(encode_jpeg(image, quality=q)).astype(int) - image).mean() for q in (20, 95)}
    assert err[95] < err[20]


def test_encode_jpeg_resizes_the_shorter_side():
    image = smooth_image(48, 64)
    assert decode(encode_jpeg(image, size=24)).shape == (24, 32, 3)
    assert decode(encode_jpeg(image.transpose(1, 0, 2).copy(), size=24)).shape == (32, 24, 3)
    assert decode(encode_jpeg(image, size=96)).shape == (96, 128, 3)  # enlarged
    assert decode(encode_jpeg(np.zeros((10, 31, 3), np.uint8), size=8)).shape == (8, 25, 3)  # 24.8 -> 25
    assert encode_jpeg(image, size=48) == encode_jpeg(image)  # already the right size
    solid = np.empty((40, 60, 3), np.uint8)
    solid[:] = (200, 60, 30)
    assert np.abs(mean_colour(decode(encode_jpeg(solid, size=16))) - (200, 60, 30)).max() < 4


@pytest.mark.parametrize(
    "kwargs, exc, needle",
    [
        ({"quality": 0}, ValueError, "quality"),
        ({"quality": 101}, ValueError, "quality"),
        ({"quality": 75.0}, TypeError, "quality"),
        ({"quality": True}, TypeError, "quality"),
        ({"size": 7}, ValueError, "size"),
        ({"size": 0}, ValueError, "size"),
        ({"size": 16.0}, TypeError, "size"),
    ],
)
def test_encode_jpeg_validates_settings(kwargs, exc, needle):
    with pytest.raises(exc, match=needle):
        encode_jpeg(smooth_image(), **kwargs)
    with pytest.raises(exc, match=needle):
        frames_to_jpeg_bytes(smooth_image()[None], **kwargs)
    with pytest.raises(exc, match=needle):
        video_to_jpeg_bytes(b"anything", **kwargs)


def test_encode_jpeg_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match=r"Could not decode image <bytes of length 9>"):
        encode_jpeg(b"not a jpg")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(encode_jpeg(smooth_image())[:200])
    with pytest.raises(ValueError, match="broken.jpg"):
        encode_jpeg(broken)
    with pytest.raises(ValueError, match="upload-3"):
        encode_jpeg(b"junk", name="upload-3")
    with pytest.raises(FileNotFoundError, match="gone.png"):
        encode_jpeg(tmp_path / "gone.png")
    with pytest.raises(TypeError, match="uint8"):
        encode_jpeg(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="channels"):
        encode_jpeg(np.zeros((8, 8, 4), np.uint8))
    with pytest.raises(ValueError, match="dimensions"):
        encode_jpeg(np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(TypeError, match="PIL"):
        encode_jpeg(3.5)


# --------------------------------------------------------------------------- frames and streams


def test_frames_to_jpeg_bytes_concatenates_and_splits_back():
    frames = np.stack([np.roll(smooth_image(), 5 * i, axis=1) for i in range(4)])
    expected = [encode_jpeg(f, quality=80, size=24) for f in frames]
    stream = frames_to_jpeg_bytes(frames, quality=80, size=24)
    assert stream == b"".join(expected)
    assert split_jpeg_stream(stream) == expected
    assert len(mjpeg_frames(stream)) == 4  # FFmpeg sees 4 JPEG frames
    assert frames_to_jpeg_bytes(torch.from_numpy(frames).permute(0, 3, 1, 2), quality=80, size=24) == stream
    assert frames_to_jpeg_bytes(list(frames), quality=80, size=24) == stream
    # num_frames: the centre frame of each equal segment; repeated when the video is shorter.
    assert split_jpeg_stream(frames_to_jpeg_bytes(frames, 80, 24, num_frames=2)) == [expected[1], expected[3]]
    assert split_jpeg_stream(frames_to_jpeg_bytes(frames, 80, 24, num_frames=1)) == [expected[2]]
    assert len(split_jpeg_stream(frames_to_jpeg_bytes(frames, 80, 24, num_frames=6))) == 6
    with pytest.raises(ValueError, match="empty"):
        frames_to_jpeg_bytes(np.zeros((0, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="4-D"):
        frames_to_jpeg_bytes(smooth_image())
    with pytest.raises(ValueError, match="num_frames"):
        frames_to_jpeg_bytes(frames, num_frames=0)


def test_split_jpeg_stream_parses_markers():
    a, b = encode_jpeg(smooth_image()), encode_jpeg(smooth_image()[::-1].copy())
    # A comment segment containing FF D9 must not end the JPEG.
    comment = b"x\xff\xd9y"
    a_with_comment = a[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + a[2:]
    assert decode(a_with_comment).shape == (48, 64, 3)
    assert split_jpeg_stream(a_with_comment + b) == [a_with_comment, b]
    assert split_jpeg_stream(np.frombuffer(a + b, np.uint8)) == [a, b]
    with pytest.raises(ValueError, match="truncated"):
        split_jpeg_stream(a + b[:-10])
    with pytest.raises(ValueError, match="FF D8"):
        split_jpeg_stream(a + b"\x00\x00")
    with pytest.raises(ValueError, match="empty"):
        split_jpeg_stream(b"")


# --------------------------------------------------------------------------- videos


def test_video_to_jpeg_bytes_one_jpeg_per_frame(solid_mp4, solid_frames):
    stream = video_to_jpeg_bytes(solid_mp4)
    jpegs = split_jpeg_stream(stream)
    assert len(jpegs) == len(COLOURS) == len(solid_frames)
    assert all(j[:2] == b"\xff\xd8" and j[-2:] == b"\xff\xd9" for j in jpegs)
    # Independent reading with FFmpeg's mjpeg demuxer: same count, the colours of the source frames.
    decoded = mjpeg_frames(stream)
    assert len(decoded) == len(COLOURS)
    for frame, colour in zip(decoded, COLOURS):
        assert frame.shape == (32, 32, 3)
        assert np.abs(mean_colour(frame) - colour).max() < 10, (mean_colour(frame), colour)
    # Exactly the JPEGs of the frames PyAV decodes, and reproducible.
    assert stream == frames_to_jpeg_bytes(solid_frames)
    assert video_to_jpeg_bytes(io.BytesIO(solid_mp4)) == stream


def test_video_to_jpeg_bytes_sampling_options(solid_mp4, solid_frames):
    resized = split_jpeg_stream(video_to_jpeg_bytes(solid_mp4, quality=90, size=16))
    assert resized == [encode_jpeg(f, 90, 16) for f in solid_frames]
    assert decode(resized[0]).shape == (16, 16, 3)
    # num_frames=3 of 6: segment centres 1, 3, 5.
    picked = mjpeg_frames(video_to_jpeg_bytes(solid_mp4, num_frames=3))
    assert [int(np.argmin([np.abs(mean_colour(f) - c).max() for c in COLOURS])) for f in picked] == [1, 3, 5]
    # fps=20 from a 10 fps source: every frame twice.
    doubled = split_jpeg_stream(video_to_jpeg_bytes(solid_mp4, fps=20))
    single = split_jpeg_stream(video_to_jpeg_bytes(solid_mp4))
    assert doubled == [j for j in single for _ in range(2)]
    # max_seconds: frames shown at 0.0, 0.1 and 0.2 s.
    assert split_jpeg_stream(video_to_jpeg_bytes(solid_mp4, max_seconds=0.25)) == single[:3]


def test_video_to_jpeg_bytes_errors(tmp_path):
    garbage = b"not a video" * 20
    with pytest.raises(ValueError, match=r"Could not decode video <bytes of length 220>") as excinfo:
        video_to_jpeg_bytes(garbage)
    assert isinstance(excinfo.value.__cause__, av.error.FFmpegError)
    path = tmp_path / "fake.mp4"
    path.write_bytes(garbage)
    with pytest.raises(ValueError, match="fake.mp4"):
        video_to_jpeg_bytes(path)
    with pytest.raises(ValueError, match="clip-7"):
        video_to_jpeg_bytes(garbage, name="clip-7")
    with pytest.raises(FileNotFoundError, match="gone.mp4"):
        video_to_jpeg_bytes(tmp_path / "gone.mp4")
    for key, value in (("num_frames", 0), ("fps", -1), ("max_seconds", 0)):
        with pytest.raises(ValueError, match=key):
            video_to_jpeg_bytes(garbage, **{key: value})


# --------------------------------------------------------------------------- processor


def test_processor_jpeg_images_of_different_sizes():
    a = smooth_image(48, 64)
    b = Image.fromarray(smooth_image(30, 20))
    proc = BytesVideoProcessor(input_format="jpeg", jpeg_quality=85)
    out = proc(images=[a, b])
    refs = [encode_jpeg(a, quality=85), encode_jpeg(b, quality=85)]
    ids, mask = out["input_ids"], out["attention_mask"]
    assert ids.dtype == torch.uint8 and mask.dtype == torch.int64
    assert ids.shape == mask.shape == (2, max(len(r) for r in refs))
    for row, ref in enumerate(refs):
        n = len(ref)
        assert bytes(ids[row, :n].numpy()) == ref
        assert int(mask[row].sum()) == n and not ids[row, n:].any()
    assert len(refs[0]) != len(refs[1])  # the padding was exercised
    # jpeg_size per call; a single image; a 4-D batch array; numpy output
    out = proc(images=[a, b], jpeg_size=16, return_tensors="np")
    assert bytes(out["input_ids"][1, : out["attention_mask"][1].sum()]) == encode_jpeg(b, quality=85, size=16)
    assert bytes(proc(images=a)["input_ids"][0].numpy()) == refs[0]
    assert proc(images=np.stack([a, a]))["input_ids"].shape == (2, len(refs[0]))


def test_processor_jpeg_videos(solid_mp4, solid_frames):
    proc = BytesVideoProcessor(input_format="jpeg", jpeg_size=16, jpeg_num_frames=4)
    out = proc(videos=[solid_mp4, solid_frames], return_tensors="np")
    expected = video_to_jpeg_bytes(solid_mp4, size=16, num_frames=4)
    assert len(split_jpeg_stream(expected)) == 4
    for row in range(2):  # the encoded file and its decoded frames give the same bytes
        assert bytes(out["input_ids"][row, : out["attention_mask"][row].sum()]) == expected
    # All frames, as a single (not batched) video; per-call override of the frame count.
    full = proc(solid_mp4, jpeg_num_frames=6)["input_ids"][0].numpy()
    assert len(mjpeg_frames(bytes(full))) == 6
    with pytest.raises(ValueError, match=r"videos\[1\].*jpeg_fps"):
        proc([solid_mp4, solid_frames], jpeg_fps=5)
    with pytest.raises(ValueError, match=r"videos\[0\].*Could not decode video"):
        proc([b"garbage" * 30, solid_mp4])
    with pytest.raises(ValueError, match=r"videos\[1\].*single image.*images="):
        proc([solid_mp4, solid_frames[0]])


def test_processor_jpeg_reads_a_list_of_frames_as_one_video(solid_mp4, solid_frames):
    """As transformers' video processors do: a list of frames is one video, a list of frame lists is a batch."""
    proc = BytesVideoProcessor(input_format="jpeg", jpeg_size=16)
    as_pil = [Image.fromarray(f) for f in solid_frames]
    as_tensors = [torch.from_numpy(f).permute(2, 0, 1) for f in solid_frames]  # (3, H, W) each
    for frames in (list(solid_frames), as_pil, tuple(as_tensors)):
        out = proc(videos=frames, return_tensors="np")
        assert out["input_ids"].shape[0] == 1  # one video, not a batch of one-frame videos
        stream = bytes(out["input_ids"][0, : out["attention_mask"][0].sum()])
        assert split_jpeg_stream(stream) == [encode_jpeg(f, size=16) for f in solid_frames]
        decoded = mjpeg_frames(stream)  # FFmpeg reads all six frames back, in order
        assert len(decoded) == len(COLOURS)
        assert all(np.abs(mean_colour(f) - c).max() < 10 for f, c in zip(decoded, COLOURS))
    out = proc(videos=[as_pil, list(solid_frames[:3])], return_tensors="np")  # two videos
    assert out["input_ids"].shape[0] == 2
    lengths = out["attention_mask"].sum(1)
    assert [len(split_jpeg_stream(bytes(out["input_ids"][i, : lengths[i]]))) for i in range(2)] == [6, 3]
    assert bytes(out["input_ids"][1, : lengths[1]]) == b"".join(encode_jpeg(f, size=16) for f in solid_frames[:3])
    # a mix of frames and encoded videos stays a batch, whose image item is reported
    with pytest.raises(ValueError, match=r"videos\[1\].*single image"):
        proc(videos=[solid_mp4, solid_frames[0]])
    # the default mode is unchanged: a list is a batch of encoded videos
    assert BytesVideoProcessor()([b"ab", b"c"], return_tensors="np")["input_ids"].shape == (2, 2)


def test_processor_default_mode_rejects_images_clearly():
    proc = BytesVideoProcessor()
    with pytest.raises(ValueError, match=r"input_format='jpeg'") as excinfo:
        proc(images=[smooth_image()])
    assert "images" in str(excinfo.value)
    # ... and the per-call switch it suggests works.
    out = proc(images=[smooth_image()], input_format="jpeg")
    assert bytes(out["input_ids"][0].numpy()) == encode_jpeg(smooth_image())
    with pytest.raises(ValueError, match="not both"):
        proc(videos=[b"abc"], images=[smooth_image()], input_format="jpeg")
    with pytest.raises(ValueError, match="pass videos"):
        proc()
    with pytest.raises(ValueError, match=r"images\[1\].*Could not decode image"):
        proc(images=[smooth_image(), b"junk"], input_format="jpeg")
    with pytest.raises(ValueError, match="empty"):
        proc(images=[], input_format="jpeg")
    # Default-mode video behaviour is unchanged: the bytes themselves.
    assert proc([b"\x01\x02"], return_tensors="np")["input_ids"].tolist() == [[1, 2]]


def test_processor_jpeg_settings_validation():
    with pytest.raises(ValueError, match="input_format"):
        BytesVideoProcessor(input_format="png")
    with pytest.raises(ValueError, match="jpeg_quality"):
        BytesVideoProcessor(jpeg_quality=0)
    with pytest.raises(TypeError, match="jpeg_size"):
        BytesVideoProcessor(jpeg_size=12.5)
    with pytest.raises(ValueError, match="jpeg_size"):
        BytesVideoProcessor(input_format="jpeg")(images=[smooth_image()], jpeg_size=4)
    with pytest.raises(ValueError, match="transcode"):
        BytesVideoProcessor(input_format="jpeg", transcode=True)
    assert BytesVideoProcessor(input_format="JPEG").input_format == "jpeg"


def test_processor_jpeg_save_and_load_round_trip(tmp_path):
    from transformers import AutoVideoProcessor

    import bytevid_hf  # noqa: F401  (registers the processor with the Auto classes)

    settings = {
        "input_format": "jpeg",
        "jpeg_quality": 90,
        "jpeg_size": 64,
        "jpeg_num_frames": 8,
        "jpeg_fps": 12.5,
        "jpeg_max_seconds": 10,
        "max_length": 65536,
    }
    proc = BytesVideoProcessor(**settings)
    proc.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "video_preprocessor_config.json").read_text())
    assert {k: saved[k] for k in settings} == settings
    for loaded in (BytesVideoProcessor.from_pretrained(tmp_path), AutoVideoProcessor.from_pretrained(tmp_path)):
        assert isinstance(loaded, BytesVideoProcessor)
        assert loaded.to_dict() == proc.to_dict()
        image = smooth_image()
        assert bytes(loaded(images=image)["input_ids"][0].numpy()) == encode_jpeg(image, quality=90, size=64)
    assert BytesVideoProcessor.from_pretrained(tmp_path, jpeg_quality=50).jpeg_quality == 50

    # A config saved before JPEG mode existed loads in the default mode.
    new_keys = ("input_format", "jpeg_quality", "jpeg_size", "jpeg_num_frames", "jpeg_fps", "jpeg_max_seconds")
    old = {k: v for k, v in BytesVideoProcessor().to_dict().items() if k not in new_keys}
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "video_preprocessor_config.json").write_text(json.dumps(old))
    legacy = BytesVideoProcessor.from_pretrained(tmp_path / "old")
    assert legacy.input_format == "encoded" and legacy.jpeg_quality == 75 and legacy.jpeg_size is None
