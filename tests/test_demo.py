"""scripts/demo.py end to end in a shortened setting, and the model card it writes."""

import json
import subprocess
import sys
from pathlib import Path

import yaml
from huggingface_hub import ModelCard

from bytevid_hf import BytesVideoConfig
from bytevid_hf.hub.model_card import render_model_card

REPO = Path(__file__).resolve().parents[1]


def test_demo_runs_end_to_end_in_short_mode(tmp_path):
    out = tmp_path / "demo"
    cmd = [sys.executable, str(REPO / "scripts" / "demo.py"), "--output_dir", str(out), "--train_videos", "16",
           "--test_videos", "8", "--max_steps", "3", "--show", "2", "--num_proc", "1"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    for key in ("byte_model_accuracy", "chance_accuracy", "size_only_accuracy"):
        assert 0.0 <= results[key] <= 1.0
    assert len(results["pipeline_examples"]) == 2
    checkpoint = out / "checkpoint"
    for name in ("model.safetensors", "config.json", "video_preprocessor_config.json", "README.md"):
        assert (checkpoint / name).is_file(), name
    assert "pipeline('video-classification'" in result.stdout
    assert "x264 [info]" not in result.stdout + result.stderr  # codec banners never reach the terminal


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
