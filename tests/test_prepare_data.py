"""scripts/prepare_data.py and bytevid_hf.data: offline augmented datasets (resumable, shardable), on-the-fly streams.

All videos are tiny synthetic H.264 clips made here (64x64, 16-20 frames); the real ``VideoAugmenter`` runs at small
settings (64 px, 1 s, the slow hue jitter off), so the whole file takes well under a minute on 2 cores.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import datasets
import pytest
import torch
from torch.utils.data import DataLoader

from bytevid_hf.data import (
    ORIGINAL_SEED,
    UNIT_DELAY_ENV,
    AugmentedVideoStream,
    BadVideoError,
    VideoRecord,
    augment_transform,
    augmentation_seed,
    augmentation_seeds,
    build_work_units,
    load_prepared_dataset,
    prepare_dataset,
)
from bytevid_hf.processing import transcode_video
from bytevid_hf.data.synthetic import SyntheticVideoTask

from test_hub import hub  # noqa: E402,F401 - the local Hub server fixture

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "prepare_data.py"
sys.path.insert(0, str(REPO / "scripts"))
import prepare_data  # the script itself, for its main(argv)

augment = pytest.importorskip("bytevid_hf.processing.augment")

NUM_VIDEOS = 6
# Small settings for the real augmenter; color_jitter (hue) is by far its slowest op, so it is switched off.
AUG_ARGS = ["--size", "64", "--max_seconds", "1", "--bitrate", "50000", "--disable_ops", "color_jitter",
            "--no_progress"]


def real_augmenter():
    return augment.VideoAugmenter(size=64, max_seconds=1, bitrate=50_000, color_jitter=False)


class StandInAugmenter:
    """Cheap deterministic stand-in: the canonical transcode at a seed-dependent bitrate."""

    def __call__(self, video, seed):
        return transcode_video(video, size=64, max_seconds=1, bitrate=20_000 + (seed % 997) * 100)

    def to_dict(self):
        return {"stand_in": True, "size": 64}


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    task = SyntheticVideoTask(num_classes=2, min_frames=16, max_frames=20)
    task.write_folder(root, NUM_VIDEOS, seed=0, progress=False)
    return root


def source_ids(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.mp4"))


def keys(ds: datasets.Dataset) -> list[tuple[str, int]]:
    return list(zip(ds["source_id"], ds["augmentation_seed"]))


def expected_keys(ids, k, seed=0, original=False) -> set[tuple[str, int]]:
    out = {(s, x) for s in ids for x in augmentation_seeds(seed, s, k)}
    return out | ({(s, ORIGINAL_SEED) for s in ids} if original else set())


def same_rows(a: datasets.Dataset, b: datasets.Dataset) -> bool:
    return a.features == b.features and a.data.table.equals(b.data.table)


# ---------------------------------------------------------------------------------------------------------------------
def test_seeds_and_units():
    assert augmentation_seed(0, "a/b.mp4", 0) == augmentation_seed(0, "a/b.mp4", 0)
    assert augmentation_seed(0, "a/b.mp4", 0) == 1_593_606_797  # pinned: seeds must not change between versions
    seeds = augmentation_seeds(3, "x.mp4", 5)
    assert len(set(seeds)) == 5 and all(0 <= s < 2**31 for s in seeds)
    assert seeds != augmentation_seeds(4, "x.mp4", 5) != augmentation_seeds(3, "y.mp4", 5)
    # Several rows of one video (e.g. several questions) never straddle two units.
    records = [VideoRecord(s, s, 0) for s in ["c", "a", "b", "b", "b", "d"]]
    units = build_work_units(records, videos_per_unit=2)
    assert [[r.source_id for r in u.records] for u in units] == [["a", "b", "b", "b"], ["c", "d"]]
    assert [u.unit_id for u in units] == [0, 1]
    with pytest.raises(ValueError, match="videos_per_unit"):
        build_work_units(records, 0)


def test_folder_cli_columns_and_determinism(video_dir, tmp_path):
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    args = ["--video_dir", str(video_dir), "--num_augmentations", "2", "--include_original", "--videos_per_unit", "4"]
    ds = prepare_data.main(args + ["--output_dir", str(out_a)] + AUG_ARGS)
    # Parquet shards with a Video column and a dataset card: plain load_dataset reads them
    assert sorted(p.name for p in (out_a / "data").iterdir()) == ["train-00000-of-00001.parquet"]
    assert datasets.load_dataset(str(out_a), split="train")["source_id"] == ds["source_id"]

    assert ds.features["label"].names == ["0_no_cuts", "1_one_cut"]
    assert isinstance(ds.features["label"], datasets.ClassLabel)
    assert ds.features["video"] == datasets.Video(decode=False)
    assert set(ds.column_names) == {"video", "label", "source_id", "augmentation_seed", "augmentation"}
    ids = source_ids(video_dir)
    assert ds.num_rows == NUM_VIDEOS * 3
    assert sorted(keys(ds)) == keys(ds)  # sorted by (source_id, seed)
    assert set(keys(ds)) == expected_keys(ids, 2, original=True)
    for row in ds.select(range(3)):
        assert ds.features["label"].int2str(row["label"]) == row["source_id"].split("/")[0]
    settings = json.loads(ds[1]["augmentation"])
    assert settings == json.loads(json.dumps(real_augmenter().to_dict()))
    assert settings["ops"]["color_jitter"] is False and settings["size"] == 64
    # The original row is the canonical transcode in the augmenter's format; augmented rows are new encodings.
    first = ds.filter(lambda r: r["source_id"] == ids[0])
    assert first["augmentation_seed"][0] == ORIGINAL_SEED and json.loads(first["augmentation"][0])["original"]
    original = (video_dir / ids[0]).read_bytes()
    assert first["video"][0]["bytes"] == transcode_video(original, size=64, bitrate=50_000, max_seconds=1)
    assert first["video"][1]["bytes"] == real_augmenter()(original, first["augmentation_seed"][1])
    assert len({v["bytes"] for v in first["video"]}) == 3
    stem = ids[0].rsplit(".", 1)[0]  # each row's Video path is a file name: source, seed, container
    assert [v["path"] for v in first["video"]] == [f"{stem}.original.mp4"] + [
        f"{stem}.{seed}.mp4" for seed in first["augmentation_seed"][1:]]

    # Rerun elsewhere (another process count): identical bytes. Rerun in place: nothing to do.
    ds_b = prepare_data.main(args + ["--output_dir", str(out_b), "--num_proc", "2"] + AUG_ARGS)
    assert same_rows(ds, ds_b)
    mtime = (out_a / "units" / "unit-000000.arrow").stat().st_mtime_ns
    assert same_rows(ds, prepare_data.main(args + ["--output_dir", str(out_a)] + AUG_ARGS))
    assert (out_a / "units" / "unit-000000.arrow").stat().st_mtime_ns == mtime
    # Other settings on the same output folder are refused.
    with pytest.raises(ValueError, match="different settings"):
        prepare_data.main(args[:3] + ["3"] + args[4:] + ["--output_dir", str(out_a)] + AUG_ARGS)


def test_manifest_inputs_with_qa(video_dir, tmp_path):
    ids = source_ids(video_dir)
    rows = [
        {"path": ids[0], "label": "cat", "question": "what?", "answer": "a", "choices": ["a", "b"]},
        {"path": ids[0], "label": "cat", "question": "why?", "answer": "b", "choices": ["a", "b", "c"]},  # same video
        {"path": str(video_dir / ids[3]), "label": "dog", "question": "how?", "answer": "c", "choices": ["c"]},
    ]
    jsonl = video_dir / "manifest.jsonl"  # relative paths are relative to the manifest's folder
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = prepare_dataset(tmp_path / "jsonl", manifest=jsonl, augmenter=StandInAugmenter(), num_augmentations=2,
                         progress=False)
    assert set(ds.column_names) == {"video", "label", "source_id", "augmentation_seed", "augmentation", "question",
                                    "answer", "choices"}
    assert ds.features["label"].names == ["cat", "dog"]
    assert ds.features["choices"] == datasets.Sequence(datasets.Value("string"))
    assert ds.num_rows == 6
    assert set(ds["source_id"]) == {ids[0], ids[3]}
    by_q = {r["question"]: r for r in ds}
    assert by_q["why?"]["choices"] == ["a", "b", "c"] and by_q["why?"]["answer"] == "b"
    assert by_q["how?"]["label"] == 1 and by_q["how?"]["source_id"] == ids[3]
    # Both questions about one video share its encodings (encoded once per seed).
    per_question = {q: [r for r in ds if r["question"] == q] for q in ("what?", "why?")}
    for rows_q in per_question.values():
        assert [r["augmentation_seed"] for r in rows_q] == sorted(augmentation_seeds(0, ids[0], 2))
    assert [r["video"]["bytes"] for r in per_question["what?"]] == [r["video"]["bytes"] for r in per_question["why?"]]

    csv_path = video_dir / "manifest.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "question", "answer", "choices"])
        writer.writerow([ids[1], "1", "q1", "x", "x|y"])
        writer.writerow([ids[4], "0", "q2", "y", "x|y|z"])
    ds_csv = prepare_dataset(tmp_path / "csv", manifest=csv_path, augmenter=StandInAugmenter(), num_augmentations=1,
                             progress=False)
    assert ds_csv.features["label"].names == ["0", "1"]
    assert {(r["source_id"], r["label"], tuple(r["choices"])) for r in ds_csv} == {
        (ids[1], 1, ("x", "y")), (ids[4], 0, ("x", "y", "z"))}

    missing = video_dir / "missing.jsonl"
    missing.write_text(json.dumps({"path": "nope/absent.mp4", "label": "a"}) + "\n")
    with pytest.raises(FileNotFoundError, match="absent.mp4"):
        prepare_dataset(tmp_path / "missing", manifest=missing, augmenter=StandInAugmenter(), progress=False)
    with pytest.raises(ValueError, match="no column"):
        (video_dir / "bad.csv").write_text("file,label\na.mp4,x\n")
        prepare_dataset(tmp_path / "bad", manifest=video_dir / "bad.csv", augmenter=StandInAugmenter())


def test_resume_after_sigkill(video_dir, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, str(SCRIPT), "--video_dir", str(video_dir), "--output_dir", str(out),
           "--num_augmentations", "2", "--videos_per_unit", "1"] + AUG_ARGS
    env = dict(os.environ, **{UNIT_DELAY_ENV: "5"})  # sleep after each unit: the kill lands mid-run
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO)
    units = out / "units"
    try:
        deadline = time.monotonic() + 90
        while not list(units.glob("unit-*.arrow")):
            assert proc.poll() is None, f"script ended early: {proc.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, "no unit was written within 90 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = {p.name: p.stat().st_mtime_ns for p in units.glob("unit-*.arrow")}
    assert 1 <= len(before) < NUM_VIDEOS and not (out / "data").exists() and not (out / "README.md").exists()
    # A temporary file left by a kill during a write must be ignored and cleaned up.
    (units / ".unit-000005.arrow.tmp-somehost-1").write_bytes(b"partial")

    assert os.environ.get(UNIT_DELAY_ENV) is None
    ds = prepare_data.main(cmd[2:])
    assert ds.num_rows == NUM_VIDEOS * 2
    assert len(set(keys(ds))) == ds.num_rows  # no duplicates
    assert set(keys(ds)) == expected_keys(source_ids(video_dir), 2)  # nothing lost
    assert {p.name: p.stat().st_mtime_ns for p in units.glob("unit-*.arrow") if p.name in before} == before
    assert not list(units.glob(".unit-*"))


def test_shards_then_merge_equal_single_run(video_dir, tmp_path):
    base = ["--video_dir", str(video_dir), "--num_augmentations", "2", "--videos_per_unit", "2"] + AUG_ARGS
    single = prepare_data.main(base + ["--output_dir", str(tmp_path / "single")])
    sharded = tmp_path / "sharded"

    def shard(i):
        return prepare_data.main(base + ["--output_dir", str(sharded), "--num_shards", "2", "--shard_index", str(i)])

    assert shard(0) is None  # units 0 and 2; unit 1 belongs to shard 1
    assert sorted(p.name for p in (sharded / "units").glob("unit-*")) == ["unit-000000.arrow", "unit-000002.arrow"]
    with pytest.raises(RuntimeError, match=r"1 of 3 units are missing \(unit ids 1\)"):
        prepare_data.main(["--merge", "--output_dir", str(sharded)])
    merged_auto = shard(1)  # the last shard finds every unit and merges
    assert same_rows(single, merged_auto)
    assert same_rows(single, prepare_data.main(["--merge", "--output_dir", str(sharded)]))
    assert same_rows(single, load_prepared_dataset(sharded))


def test_skip_bad(video_dir, tmp_path, caplog):
    root = tmp_path / "videos"
    for sid in source_ids(video_dir)[:2]:
        (root / sid).parent.mkdir(parents=True, exist_ok=True)
        (root / sid).write_bytes((video_dir / sid).read_bytes())
    (root / "0_no_cuts" / "corrupt.mp4").write_bytes(os.urandom(3000))
    (root / "0_no_cuts" / "empty.mp4").write_bytes(b"")
    args = ["--video_dir", str(root), "--num_augmentations", "1"] + AUG_ARGS
    with pytest.raises(BadVideoError, match=r"corrupt\.mp4.*--skip_bad"):
        prepare_data.main(args + ["--output_dir", str(tmp_path / "strict")])
    with caplog.at_level(logging.WARNING, logger="bytevid_hf.data"):
        ds = prepare_data.main(args + ["--output_dir", str(tmp_path / "lenient"), "--skip_bad"])
    assert sorted(set(ds["source_id"])) == source_ids(video_dir)[:2]
    skipped = [json.loads(line) for line in (tmp_path / "lenient" / "skipped.jsonl").read_text().splitlines()]
    assert [s["source_id"] for s in skipped] == ["0_no_cuts/corrupt.mp4", "0_no_cuts/empty.mp4"]
    assert all(s["error"] and s["path"].endswith(s["source_id"].split("/")[1]) for s in skipped)
    assert "corrupt.mp4" in caplog.text


def test_stream_two_workers_each_index_once_per_epoch(video_dir):
    ids = source_ids(video_dir)
    data = [((video_dir / s).read_bytes(), int(s.startswith("1_"))) for s in ids]
    stream = AugmentedVideoStream(data, real_augmenter(), seed=7, shuffle=True, return_index=True)
    loader = DataLoader(stream, batch_size=None, num_workers=2)
    epochs = []
    for epoch in range(2):
        stream.set_epoch(epoch)
        samples = list(loader)
        assert sorted(s["index"] for s in samples) == list(range(len(data)))  # each index exactly once
        for s in samples:
            assert s["input_ids"].dtype == torch.uint8 and s["input_ids"].ndim == 1
            assert s["labels"] == data[s["index"]][1]
        epochs.append({s["index"]: bytes(s["input_ids"].numpy()) for s in samples})
    assert all(epochs[0][i] != epochs[1][i] for i in range(len(data)))  # a fresh augmentation each epoch
    assert all(epochs[1][i] != data[i][0] for i in range(len(data)))
    # The samples do not depend on the number of workers.
    stream.set_epoch(1)
    assert {s["index"]: bytes(s["input_ids"].numpy()) for s in stream} == epochs[1]


def test_augment_transform(video_dir):
    ids = source_ids(video_dir)[:2]
    ds = datasets.Dataset.from_dict({"video": [(video_dir / s).read_bytes() for s in ids], "label": [0, 1]})
    ds.set_transform(augment_transform(StandInAugmenter(), seed=1))
    a, b = ds[0], ds[0]
    assert set(a) == {"input_ids", "label"} and a["label"] == 0
    assert a["input_ids"].dtype == torch.uint8
    assert not torch.equal(a["input_ids"], b["input_ids"])  # every access is a fresh augmentation
    batch = ds[:2]
    assert len(batch["input_ids"]) == 2 and batch["label"] == [0, 1]


def test_prepared_parquet_dataset_trains_pushes_and_feeds_a_new_preparation(video_dir, tmp_path, hub):
    """prepare-data writes Parquet shards (a Video column) + a dataset card: load_dataset reads them locally and, after
    --push_to_hub, from the Hub; both feed run_finetuning (--dataset_path / --dataset_name); and a Hub dataset is
    itself an input of prepare-data (--dataset_name)."""
    from transformers import TrainingArguments

    from bytevid_hf.training.finetune import DataArguments, ModelArguments, run_finetuning

    out = tmp_path / "prepared"
    prepare_data.main(["--video_dir", str(video_dir), "--output_dir", str(out), "--num_augmentations", "1",
                       "--videos_per_unit", "2", "--max_shard_size", "5KB", "--push_to_hub", "user/prepared"]
                      + AUG_ARGS)
    shards = sorted(p.name for p in (out / "data").iterdir())
    assert shards == [f"train-0000{i}-of-00003.parquet" for i in range(3)]  # one per unit at this shard size
    local = datasets.load_dataset(str(out), split="train")
    assert local.features["video"] == datasets.Video(decode=False)
    assert local.features["label"].names == ["0_no_cuts", "1_one_cut"] and local.num_rows == NUM_VIDEOS
    repo = hub.hub.repos[("dataset", "user/prepared")]
    files = repo.commits[repo.branches["main"]].files
    assert {"README.md", *(f"data/{name}" for name in shards)} <= set(files)
    assert "load_dataset(\"user/prepared\"" in files["README.md"].data.decode()
    remote = datasets.load_dataset("user/prepared", split="train", cache_dir=str(tmp_path / "hf_datasets"))
    assert remote.features == local.features and remote[:] == local[:]

    def finetune(name, **data):
        args = TrainingArguments(output_dir=str(tmp_path / name), max_steps=1, per_device_train_batch_size=4,
                                 report_to="none", save_strategy="no", disable_tqdm=True, use_cpu=True)
        run_finetuning(ModelArguments(preset="bytes-micro"),
                       DataArguments(max_length=1024, validation_fraction=0, **data), args)
        return json.loads((tmp_path / name / "config.json").read_text())

    assert finetune("from_local", dataset_path=str(out))["id2label"] == {"0": "0_no_cuts", "1": "1_one_cut"}
    assert finetune("from_hub", dataset_name="user/prepared")["id2label"] == {"0": "0_no_cuts", "1": "1_one_cut"}

    again = prepare_data.main(["--dataset_name", "user/prepared", "--output_dir", str(tmp_path / "again"),
                               "--num_augmentations", "1", "--videos_per_unit", "3"] + AUG_ARGS)
    assert again.num_rows == NUM_VIDEOS and again.features["label"].names == local.features["label"].names
    assert again["label"] == local["label"]  # row i of the input is source "0000000i/<its file name>"
    assert again["source_id"] == [f"{i:08d}/{os.path.basename(v['path'])}" for i, v in enumerate(local["video"])]
    assert json.loads((tmp_path / "again" / "prepare_config.json").read_text())["input"]["dataset"]["dataset_name"] \
        == "user/prepared"
