"""Trainer integration: collator, video-folder datasets, a loss that decreases, scripts/finetune.py end to end."""

import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from transformers import Trainer, TrainingArguments, pipeline

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification, BytesVideoProcessor
from bytevid_hf.training.metrics import classification_metrics, load_metric
from bytevid_hf.training.finetune import BytesVideoCollator, load_video_folder

REPO = Path(__file__).resolve().parents[1]


def toy_byte_dataset(n=48, length=256, seed=0):
    """Two classes whose bytes differ in a local pattern: class 1 streams contain runs of 0xFF."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = i % 2
        data = rng.integers(0, 200, size=length, dtype=np.uint8)
        if label:
            for start in rng.choice(length - 8, size=6, replace=False):
                data[start : start + 8] = 255
        rows.append({"video": data.tobytes(), "label": label})
    return datasets.Dataset.from_list(rows)


def test_collator_pads_and_stacks_labels():
    collate = BytesVideoCollator(BytesVideoProcessor())
    batch = collate([{"video": b"\x01\x02\x03", "label": 1}, {"video": b"\x09", "label": 0}])
    assert batch["input_ids"].dtype == torch.uint8
    assert batch["input_ids"].tolist() == [[1, 2, 3], [9, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [1, 0]
    with pytest.raises(KeyError, match="remove_unused_columns"):
        collate([{"label": 1}])


def test_offline_accuracy_metric():
    metric = load_metric("accuracy")
    assert metric.compute(predictions=[0, 1, 2, 2], references=[0, 1, 1, 2]) == {"accuracy": 0.75}
    compute = classification_metrics()

    class EvalPred:
        predictions = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
        label_ids = np.array([1, 1, 1])

    assert compute(EvalPred()) == pytest.approx({"accuracy": 2 / 3})


def test_trainer_loss_decreases(tmp_path):
    torch.manual_seed(0)
    data = toy_byte_dataset()
    config = BytesVideoConfig.from_preset("bytes-micro", num_labels=2)
    model = BytesVideoForClassification(config)
    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=8,
        learning_rate=3e-3,
        num_train_epochs=6,
        logging_steps=6,
        save_strategy="no",
        report_to=[],
        remove_unused_columns=False,
        disable_tqdm=True,
        use_cpu=True,
        seed=0,
    )
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=BytesVideoCollator(BytesVideoProcessor()))
    trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert len(losses) >= 4
    assert np.mean(losses[-2:]) < 0.8 * np.mean(losses[:2]), losses


def make_class_folder(root: Path, samples: dict[str, Path], copies: int = 3) -> Path:
    """Class subfolders holding real mp4s (byte-truncated copies keep training fast)."""
    for name, src in samples.items():
        (root / name).mkdir(parents=True)
        data = src.read_bytes()
        for i in range(copies):
            (root / name / f"{i}.mp4").write_bytes(data[: 3000 + 500 * i])
    return root


def test_load_video_folder(tmp_path, bikes_mp4, carphone_mp4):
    root = make_class_folder(tmp_path / "videos", {"bikes": bikes_mp4, "carphone": carphone_mp4})
    data = load_video_folder(root)
    assert data.features["label"].names == ["bikes", "carphone"]
    assert len(data) == 6
    assert data.features["video"] == datasets.Video(decode=False)  # paths, read when a batch is made
    assert data[0]["video"] == {"bytes": None, "path": str(root / "bikes" / "0.mp4")}
    batch = BytesVideoCollator(BytesVideoProcessor())([data[0], data[5]])
    assert batch["input_ids"][0, :3000].numpy().tobytes() == bikes_mp4.read_bytes()[:3000]
    assert batch["labels"].tolist() == [0, 1]
    assert not data.cache_files  # in memory: nothing copied into (or cached in) the datasets cache
    with pytest.raises(FileNotFoundError, match="nope"):
        load_video_folder(tmp_path / "nope")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match="no files"):
        load_video_folder(tmp_path / "empty")


def test_finetune_script_output_loads_into_pipeline(tmp_path, bikes_mp4, carphone_mp4):
    root = make_class_folder(tmp_path / "videos", {"bikes": bikes_mp4, "carphone": carphone_mp4})
    out = tmp_path / "out"
    cmd = [
        sys.executable, str(REPO / "scripts" / "finetune.py"),
        "--data_dir", str(root), "--preset", "bytes-micro", "--output_dir", str(out),
        "--max_length", "2048", "--num_train_epochs", "1", "--per_device_train_batch_size", "2",
        "--learning_rate", "1e-3", "--validation_fraction", "0.34", "--eval_strategy", "no",
        "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true", "--use_cpu", "true",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "model.safetensors").is_file()
    assert (out / "video_preprocessor_config.json").is_file()
    classifier = pipeline("video-classification", model=str(out))
    predictions = classifier(str(bikes_mp4), top_k=2)
    assert {p["label"] for p in predictions} == {"bikes", "carphone"}
    assert sum(p["score"] for p in predictions) == pytest.approx(1.0, abs=1e-4)


def _finetune_args(output_dir, **overrides) -> TrainingArguments:
    return TrainingArguments(output_dir=str(output_dir), max_steps=2, per_device_train_batch_size=4,
                             learning_rate=1e-2, report_to="none", save_strategy="no", disable_tqdm=True,
                             use_cpu=True, seed=0, **overrides)


def test_finetune_from_videofolder_rows(tmp_path, bikes_mp4, carphone_mp4):
    """load_dataset("videofolder", ...) rows hold a Video value ({"bytes", "path"} once cast to decode=False): the
    collator reads them, and run_finetuning takes the builder by name (--dataset_name videofolder --data_dir ...)."""
    from bytevid_hf.training.finetune import DataArguments, ModelArguments, run_finetuning

    root = make_class_folder(tmp_path / "videos", {"bikes": bikes_mp4, "carphone": carphone_mp4}, copies=2)
    rows = datasets.load_dataset("videofolder", data_dir=str(root), split="train",
                                 cache_dir=str(tmp_path / "cache")).cast_column("video", datasets.Video(decode=False))
    batch = BytesVideoCollator(BytesVideoProcessor(max_length=1024))([rows[0], rows[3]])
    assert rows[0]["video"]["bytes"] is None and rows.features["label"].names == ["bikes", "carphone"]
    assert batch["input_ids"][0].numpy().tobytes() == (root / "bikes" / "0.mp4").read_bytes()[:1024]
    assert batch["labels"].tolist() == [0, 1]
    metrics = run_finetuning(ModelArguments(preset="bytes-micro"),
                             DataArguments(dataset_name="videofolder", data_dir=str(root), max_length=1024,
                                           validation_fraction=0.5), _finetune_args(tmp_path / "out"))
    assert "eval_accuracy" in metrics
    config = BytesVideoConfig.from_pretrained(tmp_path / "out")
    assert config.id2label == {0: "bikes", 1: "carphone"}
    assert "dataset:\n      name: videofolder" in (tmp_path / "out" / "README.md").read_text()


def test_a_video_edited_in_place_is_read_anew_by_the_next_run(tmp_path, bikes_mp4, carphone_mp4):
    """--data_dir rows are paths read when a batch is made: a video edited in place (same size, same mtime) changes
    the next run exactly as training on the edited copy elsewhere would; no stale cached bytes."""
    import os
    import shutil

    from safetensors.torch import load_file

    from bytevid_hf.training.finetune import DataArguments, ModelArguments, run_finetuning

    root = make_class_folder(tmp_path / "videos", {"bikes": bikes_mp4, "carphone": carphone_mp4}, copies=2)

    def train(folder, name):
        run_finetuning(ModelArguments(preset="bytes-micro"),
                       DataArguments(data_dir=str(folder), max_length=1024, validation_fraction=0),
                       _finetune_args(tmp_path / name))
        return load_file(tmp_path / name / "model.safetensors")

    before = train(root, "before")
    edited = root / "carphone" / "1.mp4"
    stat = edited.stat()
    data = bytearray(edited.read_bytes())
    data[100:900] = bytes(255 - b for b in data[100:900])
    edited.write_bytes(bytes(data))
    os.utime(edited, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = train(root, "after")
    shutil.copytree(root, tmp_path / "copy")
    fresh = train(tmp_path / "copy", "fresh")
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert all(torch.equal(after[k], fresh[k]) for k in after)
