"""scripts/demo.py end to end in a shortened setting, and the model card it writes."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard

from bytevid_hf import BytesVideoConfig
from bytevid_hf.hub.model_card import render_model_card

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py: the in-process re-evaluation, not the script


def run_demo(out, train, test, steps, num_proc, timeout):
    """``scripts/demo.py`` into ``out`` (2 examples shown); the finished process and its checked results.json."""
    cmd = [sys.executable, str(REPO / "scripts" / "demo.py"), "--output_dir", str(out), "--train_videos", str(train),
           "--test_videos", str(test), "--max_steps", str(steps), "--show", "2", "--num_proc", str(num_proc)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    check_reported_numbers(results, out, num_train=train, num_test=test, num_shown=2)
    return result, results


def test_demo_runs_end_to_end_in_short_mode(tmp_path):
    out = tmp_path / "demo"
    result, _ = run_demo(out, train=16, test=8, steps=3, num_proc=1, timeout=600)
    checkpoint = out / "checkpoint"
    for name in ("model.safetensors", "config.json", "video_preprocessor_config.json", "README.md"):
        assert (checkpoint / name).is_file(), name
    assert "pipeline('video-classification'" in result.stdout
    assert "x264 [info]" not in result.stdout + result.stderr  # codec banners never reach the terminal


@pytest.mark.slow
def test_demo_beats_the_input_blind_baselines(tmp_path):
    """A shortened demo that trains long enough to learn (~3.5 min on 2 cores): held-out accuracy far above the best
    classifier that ignores the clip (the test set's majority share) and the file-size-only classifier. Measured:
    0.855 against 0.250 and 0.235 (seed 0, 400/200 clips, 300 steps)."""
    from bytevid_hf.testing.baselines import blind_accuracy

    out = tmp_path / "demo"
    _, results = run_demo(out, train=400, test=200, steps=300, num_proc=2, timeout=1800)
    import datasets

    blind = blind_accuracy(datasets.load_from_disk(str(out / "data"))["test"]["label"])
    assert results["byte_model_accuracy"] >= max(blind, results["size_only_accuracy"]) + 0.35, results


def check_reported_numbers(results, out, num_train, num_test, num_shown):
    """The demo's three accuracies and its pipeline examples, recomputed here from the saved split and checkpoint.

    Three steps cannot beat chance, so the byte model's accuracy is checked against an evaluation independent of the
    script (one clip at a time through the checkpoint's processor and model), and its outputs must change when each
    clip's bytes are shuffled (a broken encoder that ignores the content, seeing at most the length, gives the same
    logits for both)."""
    import datasets
    import torch

    from bytevid_hf.experiments.baselines import SizeOnlyClassifier
    from bytevid_hf.testing.baselines import (
        accuracy_of_logits,
        assert_reads_the_content,
        blind_accuracy,
        checkpoint_logits,
    )

    checkpoint = out / "checkpoint"
    data = datasets.load_from_disk(str(out / "data"))
    train_labels, test_labels = data["train"]["label"], data["test"]["label"]
    assert (len(train_labels), len(test_labels)) == (num_train, num_test)
    # chance = always the majority training label (ties: the smallest); at most the best blind accuracy on the test set
    counts = Counter(train_labels)
    majority = min(counts, key=lambda label: (-counts[label], label))
    assert results["chance_accuracy"] == sum(label == majority for label in test_labels) / len(test_labels)
    assert results["chance_accuracy"] <= blind_accuracy(test_labels)
    sizes = {split: [len(v) for v in data[split]["video"]] for split in ("train", "test")}
    size_only = SizeOnlyClassifier().fit(sizes["train"], train_labels).score(sizes["test"], test_labels)
    assert results["size_only_accuracy"] == size_only  # the script's baseline uses the sizes of this split

    logits = checkpoint_logits(checkpoint, data["test"]["video"])
    assert_reads_the_content(logits, checkpoint_logits(checkpoint, data["test"]["video"], shuffle_seed=0))
    accuracy, slack = accuracy_of_logits(logits, test_labels)
    assert abs(results["byte_model_accuracy"] - accuracy) <= slack, (results["byte_model_accuracy"], accuracy)

    examples = results["pipeline_examples"]
    assert len(examples) == num_shown
    names = data["test"].features["label"]
    for example, video, label, row in zip(examples, data["test"]["video"], test_labels, logits):
        assert (out / "heldout_mp4" / example["file"]).read_bytes() == video  # the first held-out clips, in order
        assert example["true"] == names.int2str(label)
        assert example["predicted"] == names.int2str(int(row.argmax()))
        assert abs(example["score"] - float(torch.softmax(row, -1).max())) < 1e-4


def test_model_card_metadata_is_valid():
    config = BytesVideoConfig.from_preset("bytes-micro", num_labels=2, id2label={0: "a", 1: "b"}, label2id={"a": 0, "b": 1})
    text = render_model_card(config, {"accuracy": 0.9}, "ckpt/demo", dataset_name="synthetic", num_parameters=123)
    card = ModelCard(text)
    data = card.data.to_dict()
    assert data["library_name"] == "transformers" and data["pipeline_tag"] == "video-classification"
    front_matter = yaml.safe_load(text.split("---")[1])
    metric = front_matter["model-index"][0]["results"][0]["metrics"][0]
    assert metric["type"] == "accuracy" and metric["value"] == 0.9
    assert "pipeline(\"video-classification\"" in text
