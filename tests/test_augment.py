"""VideoAugmenter: RGB-space augmentation re-encoded to bytes, on the real sample clips."""

import io

import av
import numpy as np
import pytest
import torch

from bytevid_hf.processing import transcode_video
from bytevid_hf.processing.augment import DEFAULT_OPS, VideoAugmenter, byte_difference
from bytevid_hf.processing.errors import InvalidVideoError
from bytevid_hf.processing.transcode import encode_frames

SMALL = dict(size=96, max_seconds=1.0)


def _decode(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def _streams(data: bytes) -> dict:
    with av.open(io.BytesIO(data)) as c:
        return {s.type: s.codec_context.name for s in c.streams}


def test_deterministic_in_seed_and_independent_of_global_rng(bikes_mp4):
    augmenter = VideoAugmenter(**SMALL)
    torch.manual_seed(123)
    np.random.seed(5)
    before = torch.rand(1), np.random.rand()
    torch.manual_seed(123)
    np.random.seed(5)
    first = augmenter(bikes_mp4, seed=7)
    assert (torch.rand(1), np.random.rand()) == before  # the global generators were not consumed
    torch.manual_seed(999)  # a different global state does not change the output
    assert augmenter(bikes_mp4, seed=7) == first
    assert augmenter(bikes_mp4.read_bytes(), seed=7) == first  # path or bytes: same result
    assert augmenter(bikes_mp4, seed=8) != first
    frames = _decode(first)
    assert min(frames.shape[1:3]) == 96 and frames.shape[0] >= 0.7 * 25 - 1


def test_mild_color_jitter_rewrites_most_bytes(bikes_mp4):
    """The paper's observation: two mildly colour-jittered encodings of one clip differ in over half their bytes."""
    augmenter = VideoAugmenter.mild_color_jitter(strength=0.1, max_seconds=1.0)
    a, b = augmenter(bikes_mp4, seed=1), augmenter(bikes_mp4, seed=2)
    assert byte_difference(a, b) > 0.5
    # ... while the pictures stay close: mean absolute pixel difference well under 10% of the range
    fa, fb = _decode(a).astype(np.float32), _decode(b).astype(np.float32)
    assert fa.shape == fb.shape and np.abs(fa - fb).mean() < 25
    assert byte_difference(a, a) == 0.0


def test_all_ops_off_reproduces_the_canonical_frames(bikes_mp4):
    """With every op off the augmenter is a plain decode-resize-encode: its frames match transcode_video's."""
    off = VideoAugmenter(**{name: False for name in DEFAULT_OPS}, size=96, max_seconds=1.0)
    ours = _decode(off(bikes_mp4, seed=0)).astype(np.float32)
    reference = _decode(transcode_video(bikes_mp4, size=96, max_seconds=1.0)).astype(np.float32)
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).mean() < 6  # two lossy encodes of the same pictures


def _grey_levels_mp4(count: int, fps: int) -> bytes:
    """``count`` solid frames at ``fps``, frame i at grey level 8 * i (+ 8), nearly lossless H.264."""
    return encode_frames(np.repeat(np.arange(8, 8 * count + 8, 8, dtype=np.uint8), 32 * 48 * 3).reshape(count, 32, 48, 3),
                         fps=fps, bitrate=5_000_000, encoder_options={"qp": "0"})


def test_temporal_resampling_is_transcodings(tmp_path):
    """The augmenter resamples time with the package's one constant-rate resampler: with every op off, a 30 fps
    clip at 25 fps shows the same source frames as transcode_video's output (its old last-frame-before-the-slot
    rule picked the earlier of two frames where transcoding picks the nearer)."""
    source = _grey_levels_mp4(30, fps=30)
    off = VideoAugmenter(**{name: False for name in DEFAULT_OPS}, size=32, fps=25, bitrate=5_000_000)

    def shown(data: bytes) -> list[int]:  # which source frame each output frame shows, by its grey level
        return [int(round(f.mean() / 8)) - 1 for f in _decode(data).astype(np.float32)]

    reference = shown(transcode_video(source, size=32, fps=25, bitrate=5_000_000))
    assert shown(off(source, seed=0)) == reference
    assert len(reference) == 25 and reference != [int(k * 30 / 25) for k in range(25)]  # not the floor rule


def test_ops_are_consistent_across_frames_and_switchable(bikes_mp4):
    """Cutout alone, always applied: the same rectangle is black in every frame; inversion alone inverts."""
    only = {name: False for name in DEFAULT_OPS}
    cut = VideoAugmenter(**{**only, "cutout": {"p": 1.0, "scale": (0.1, 0.1)}}, size=96, max_seconds=1.0,
                         bitrate=2_000_000)
    frames = _decode(cut(bikes_mp4, seed=3)).astype(np.float32).mean(-1)  # (T, H, W)
    black = frames < 12
    everywhere = black.all(0)  # pixels black in every frame
    assert everywhere.sum() >= 0.05 * everywhere.size  # the erased rectangle (10% of the area, minus edges)
    assert black.any(0).sum() <= 2 * everywhere.sum() + 0.05 * everywhere.size  # ... and it does not move

    plain = _decode(VideoAugmenter(**only, size=96, max_seconds=1.0, bitrate=2_000_000)(bikes_mp4, seed=3))
    inverted = _decode(VideoAugmenter(**{**only, "invert": {"p": 1.0}}, size=96, max_seconds=1.0,
                                      bitrate=2_000_000)(bikes_mp4, seed=3))
    assert np.abs(255.0 - plain.astype(np.float32) - inverted).mean() < 8


def test_codecs_containers_and_audio(bunny_mp4):
    webm = VideoAugmenter(codec="vp9", container="webm", **SMALL)(bunny_mp4, seed=1)
    assert _streams(webm) == {"video": "vp9"}
    h265 = VideoAugmenter(codec="h265", container="mp4", keep_audio=True, **SMALL)(bunny_mp4, seed=1)
    streams = _streams(h265)
    assert streams["video"] == "hevc" and streams["audio"] == "aac"
    with av.open(io.BytesIO(h265)) as c:
        audio_seconds = sum(f.samples / f.sample_rate for f in c.decode(audio=0))
    video_seconds = len(_decode(h265)) / 25
    assert abs(audio_seconds - video_seconds) < 0.15  # audio cropped to the same window


def test_bad_inputs_and_settings_fail_clearly(tmp_path):
    augmenter = VideoAugmenter(**SMALL)
    # the package's one decode error (it was a plain ValueError from the augmenter's own decode loop)
    with pytest.raises(InvalidVideoError, match=r"^Could not augment video .*not_a_video.mp4.*not a video"):
        path = tmp_path / "not_a_video.mp4"
        path.write_bytes(b"hello, this is text" * 50)
        augmenter(path, seed=0)
    with pytest.raises(TypeError, match="unknown op"):
        VideoAugmenter(mirror=True)
    with pytest.raises(ValueError, match="no parameter"):
        VideoAugmenter(contrast={"amount": 2})
    with pytest.raises(ValueError, match="probability"):
        VideoAugmenter(invert={"p": 1.5})
    with pytest.raises(ValueError, match="codec"):
        VideoAugmenter(codec="mpeg2")
    with pytest.raises(TypeError, match="seed"):
        augmenter(b"\x00" * 10, seed="1")


def test_encode_frames_round_trip():
    g = np.random.default_rng(0)
    frames = np.repeat(g.integers(0, 256, (1, 32, 48, 3), dtype=np.uint8), 5, axis=0)
    data = encode_frames(frames, bitrate=5_000_000)
    assert data == encode_frames(frames, bitrate=5_000_000)
    decoded = _decode(data)
    assert decoded.shape == frames.shape
    with pytest.raises(ValueError, match="even"):
        encode_frames(frames[:, :31])
    with pytest.raises(ValueError, match="uint8"):
        encode_frames(frames.astype(np.float32))


def test_augmentation_experiment_merges_seeds(tmp_path):
    """--merge: mean and sample std per condition over runs that differ only in the seed (values computed by hand);
    runs with other settings are refused, naming the setting."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "augmentation_experiment.py"
    base = {"task": "scene_cuts", "num_classes": 4, "train_videos": 200, "test_videos": 400, "copies": 4, "steps": 400,
            "pretrain_steps": 400, "batch_size": 8, "learning_rate": 0.002, "minutes": 1.0}
    for seed, (a, b) in enumerate([(0.50, 0.80), (0.60, 0.90)]):
        rows = [{"data": "1x", "pretraining": "none", "train_clips": 200, "accuracy": a},
                {"data": "1x", "pretraining": "next-byte", "train_clips": 200, "accuracy": b}]
        (tmp_path / f"s{seed}").mkdir()
        (tmp_path / f"s{seed}" / "experiment.json").write_text(json.dumps(
            {**base, "seed": seed, "rows": rows, "command": f"run {seed}"}))
    out = tmp_path / "merged"
    subprocess.run([sys.executable, str(script), "--merge", str(tmp_path / "s0"), str(tmp_path / "s1"),
                    "--out-dir", str(out)], check=True, capture_output=True, text=True)
    merged = json.loads((out / "experiment.json").read_text())
    assert merged["seeds"] == [0, 1]
    scratch, pretrained = merged["rows"]
    assert scratch["mean"] == pytest.approx(0.55) and scratch["std"] == pytest.approx(0.0707107, rel=1e-5)
    assert pretrained["mean"] == pytest.approx(0.85) and pretrained["std"] == pytest.approx(0.0707107, rel=1e-5)
    assert "0.550 ± 0.071" in (out / "experiment.md").read_text() and (out / "experiment.png").is_file()
    other = json.loads((tmp_path / "s1" / "experiment.json").read_text())
    (tmp_path / "s1" / "experiment.json").write_text(json.dumps({**other, "steps": 100}))
    failed = subprocess.run([sys.executable, str(script), "--merge", str(tmp_path / "s0"), str(tmp_path / "s1"),
                             "--out-dir", str(out)], capture_output=True, text=True)
    assert failed.returncode != 0 and "steps" in failed.stderr
