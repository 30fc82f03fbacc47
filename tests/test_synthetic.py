"""Tests of the built-in synthetic task (bytevid_hf.data.synthetic) and the baselines."""

from __future__ import annotations

import io

import av
import av.logging
import numpy as np
import pytest

from bytevid_hf.experiments.baselines import SizeOnlyClassifier, chance_accuracy, file_sizes
from bytevid_hf.data.synthetic import (
    SyntheticVideoTask,
    count_hard_cuts,
    generate_clip,
    render_clip,
)


def _decode(video: bytes):
    with av.open(io.BytesIO(video)) as c:
        s = c.streams.video[0]
        info = {
            "codec": s.codec_context.name,
            "width": s.codec_context.width,
            "height": s.codec_context.height,
            "fps": s.average_rate,
        }
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    return info, frames


def _keyframes(video: bytes) -> list[int]:
    with av.open(io.BytesIO(video)) as c:
        return [i for i, p in enumerate(c.demux(video=0)) if p.size and p.is_keyframe]


def test_clip_is_real_h264_mp4_with_expected_geometry():
    task = SyntheticVideoTask()
    video = generate_clip(2, seed=11)
    assert isinstance(video, bytes)
    assert video[4:8] == b"ftyp"
    info, frames = _decode(video)
    assert info["codec"] == "h264"
    assert (info["width"], info["height"]) == (task.width, task.height) == (64, 64)
    assert info["fps"] == task.fps == 25
    raw, _ = render_clip(2, seed=11)
    assert frames.shape == raw.shape
    assert task.min_frames <= frames.shape[0] <= task.max_frames
    # a small clip, as intended for CPU training of byte models
    assert 4_000 < len(video) < 16_000


def test_custom_settings_are_applied():
    video = generate_clip(
        1, seed=3, width=96, height=80, fps=20, num_classes=3, min_frames=30, max_frames=32
    )
    info, frames = _decode(video)
    assert (info["width"], info["height"], info["fps"]) == (96, 80, 20)
    assert 30 <= frames.shape[0] <= 32


def test_deterministic_under_seed():
    a = generate_clip(3, seed=123)
    assert generate_clip(3, seed=123) == a
    assert generate_clip(3, seed=124) != a
    assert generate_clip(2, seed=123) != a
    task = SyntheticVideoTask()
    rows1 = task.generate(8, seed=5, num_proc=1, progress=False)
    rows2 = task.generate(8, seed=5, num_proc=2, progress=False)
    assert [r["video"] for r in rows1] == [r["video"] for r in rows2]
    assert [r["seed"] for r in rows1] == [r["seed"] for r in rows2]
    # a row is reproducible from its own label and seed
    r = rows1[6]
    assert generate_clip(r["label"], r["seed"], **task.to_dict()) == r["video"]
    # another dataset seed gives other clips
    rows3 = task.generate(8, seed=6, progress=False)
    assert not {r["video"] for r in rows3} & {r["video"] for r in rows1}


def test_generate_is_balanced_and_well_formed():
    task = SyntheticVideoTask()
    rows = task.generate(12, seed=0, progress=False)
    assert [r["label"] for r in rows] == [0, 1, 2, 3] * 3
    assert len({r["seed"] for r in rows}) == 12
    assert all(set(r) == {"video", "label", "seed"} for r in rows)
    assert all(isinstance(r["video"], bytes) for r in rows)
    assert task.id2label == {0: "0_no_cuts", 1: "1_one_cut", 2: "2_two_cuts", 3: "3_three_cuts"}
    assert task.label2id["2_two_cuts"] == 2
    assert sorted(task.class_names) == task.class_names


@pytest.mark.parametrize("label", [0, 1, 2, 3])
def test_label_is_the_number_of_cuts_in_the_decoded_frames(label):
    # Two clips per class: the label is visible in the pixels (after H.264 coding), and
    # libx264's scene-cut detection put one IDR picture at each cut (keyframes not forced).
    for seed in (label * 100 + 1, label * 100 + 2):
        video = generate_clip(label, seed)
        _, frames = _decode(video)
        assert count_hard_cuts(frames) == label
        raw, cuts = render_clip(label, seed)
        assert len(cuts) == label and count_hard_cuts(raw) == label
        assert all(8 <= b - a for a, b in zip([0, *cuts], [*cuts, raw.shape[0]]))
        assert _keyframes(video) == [0, *cuts]


def test_keyframes_are_not_forced():
    # Every keyframe after the first is x264's own decision: without scene-cut detection
    # the same frames give a single IDR picture.
    task = SyntheticVideoTask(extra_x264_params={"scenecut": 0})
    video = task.generate_clip(3, seed=7)
    assert len(_keyframes(video)) == 1
    assert len(_keyframes(SyntheticVideoTask().generate_clip(3, seed=7))) == 4


def test_idr_nal_units_appear_in_the_byte_stream():
    # The local byte trace: [4-byte length][0x65 = IDR slice] once per scene.
    for label in range(4):
        video = generate_clip(label, seed=40 + label)
        with av.open(io.BytesIO(video)) as c:
            pkts = [bytes(p) for p in c.demux(video=0) if p.size]
        idr = 0
        for pkt in pkts:
            i = 0
            while i + 4 < len(pkt):
                n = int.from_bytes(pkt[i : i + 4], "big")
                idr += (pkt[i + 4] & 0x1F) == 5
                i += 4 + n
            assert i == len(pkt)  # AVCC framing: length-prefixed NAL units
        assert idr == label + 1


def test_write_folder_layout(tmp_path):
    task = SyntheticVideoTask()
    written = task.write_folder(tmp_path / "train", 8, seed=2, progress=False)
    dirs = sorted(p.name for p in (tmp_path / "train").iterdir())
    assert dirs == task.class_names
    for name in task.class_names:
        files = sorted((tmp_path / "train" / name).glob("*.mp4"))
        assert len(files) == 2
    assert len(written) == 8
    rows = task.generate(8, seed=2, progress=False)
    for (path, label), row in zip(written, rows):
        assert path.parent.name == task.id2label[label]
        assert label == row["label"]
        assert path.read_bytes() == row["video"]
    assert len({p.name for p, _ in written}) == 8  # indices unique across classes


def test_invalid_settings_rejected():
    with pytest.raises(ValueError):
        SyntheticVideoTask(num_classes=6)  # 6 scenes x 8 frames > 40 frames
    with pytest.raises(ValueError):
        SyntheticVideoTask(keyint=50)
    with pytest.raises(ValueError):
        SyntheticVideoTask(name="motion")
    with pytest.raises(ValueError):
        generate_clip(4, seed=0)


def test_encoding_prints_no_banner(capfd, caplog):
    before = av.logging.get_level()
    try:
        # even with FFmpeg logging routed to Python at INFO, x264's banner is dropped
        av.logging.set_level(av.logging.INFO)
        with caplog.at_level("DEBUG"):
            generate_clip(0, seed=1)
        assert av.logging.get_level() == av.logging.INFO
    finally:
        av.logging.set_level(before)
    out, err = capfd.readouterr()
    assert "x264" not in out + err
    assert not [r for r in caplog.records if "x264" in r.getMessage()]
    try:
        # FFmpeg's own terminal logger would print x264's banner and statistics to stderr
        av.logging.restore_default_callback()
        generate_clip(0, seed=1)
    finally:
        av.logging.set_level(before)
    out, err = capfd.readouterr()
    assert "x264" not in out + err


# ----------------------------------------------------------------- baselines
def test_size_only_classifier_reads_size_when_it_determines_the_class():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 1200)
    sizes = 5000 + 1000 * y + rng.integers(0, 900, y.size)  # disjoint size ranges
    clf = SizeOnlyClassifier().fit(sizes[:800], y[:800])
    assert clf.score(sizes[800:], y[800:]) > 0.97


def test_size_only_classifier_handles_non_monotone_relation():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    # class 1 lives in the middle of the size range, class 0 on both sides
    sizes = np.where(y == 1, rng.uniform(4000, 6000, y.size),
                     np.where(rng.random(y.size) < 0.5, rng.uniform(2000, 4000, y.size),
                              rng.uniform(6000, 8000, y.size)))
    clf = SizeOnlyClassifier().fit(sizes[:1000], y[:1000])
    assert clf.score(sizes[1000:], y[1000:]) > 0.95


def test_size_only_classifier_is_near_chance_when_size_is_uninformative():
    rng = np.random.default_rng(2)
    y = np.repeat(np.arange(4), 500)
    sizes = rng.normal(9000, 1200, y.size)  # independent of the label
    perm = rng.permutation(y.size)
    y, sizes = y[perm], sizes[perm]
    clf = SizeOnlyClassifier().fit(sizes[:1200], y[:1200])
    assert abs(clf.score(sizes[1200:], y[1200:]) - 0.25) < 0.06


def test_size_only_classifier_accepts_videos_and_fixed_bins():
    videos = [b"x" * 100, b"x" * 110, b"x" * 1000, b"x" * 1100]
    assert file_sizes(videos).tolist() == [100, 110, 1000, 1100]
    assert file_sizes([{"video": b"abc"}, np.zeros(7, np.uint8)]).tolist() == [3, 7]
    clf = SizeOnlyClassifier(num_bins=2).fit(file_sizes(videos), [0, 0, 1, 1])
    assert clf.predict([50, 5000]).tolist() == [0, 1]
    assert clf.num_bins_ == 2
    with pytest.raises(RuntimeError):
        SizeOnlyClassifier().predict([1])


def test_chance_accuracy_is_majority_class():
    assert chance_accuracy([0, 0, 1, 2], [0, 1, 1, 0]) == 0.5
    assert chance_accuracy([1, 1, 0, 0], [0, 1, 1, 1]) == 0.25  # tie -> smallest label
    assert chance_accuracy(["b", "b", "a"], ["b", "a"]) == 0.5


def test_size_is_uninformative_on_generated_clips():
    # Coarse check on a small sample (the probe script measures it on hundreds of clips):
    # per-class mean bytes per frame are equal within a few percent under strict CBR.
    task = SyntheticVideoTask(bitrate_jitter=0.0)
    rows = task.generate(32, seed=3, progress=False)
    per_frame = {k: [] for k in range(task.num_classes)}
    for r in rows:
        n = task.render(r["label"], r["seed"])[0].shape[0]
        per_frame[r["label"]].append(len(r["video"]) / n)
    means = np.array([np.mean(v) for v in per_frame.values()])
    assert means.max() / means.min() < 1.06
