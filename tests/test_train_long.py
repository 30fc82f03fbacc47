"""scripts/train_long.py end to end in one process: random byte 'videos', K sub-sequences per optimizer step."""

import importlib.util
import sys
from pathlib import Path

import torch

from bytevid_hf import BytesVideoForClassification

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "train_long.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("train_long", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_long"] = module  # dataclasses look their module up in sys.modules
    spec.loader.exec_module(module)
    return module


def test_train_long_runs_one_video_per_step(tmp_path):
    train_long = _load_script()
    out = tmp_path / "out"
    result = train_long.main([
        "--random_videos", "2", "--random_length", "20000", "--preset", "bytes-micro", "--num_subsequences", "4",
        "--output_dir", str(out), "--max_steps", "2", "--learning_rate", "1e-3", "--logging_steps", "1",
        "--report_to", "none", "--save_strategy", "no", "--use_cpu", "--disable_tqdm", "true",
    ])
    assert result.global_step == 2
    model = BytesVideoForClassification.from_pretrained(out)
    assert not model.bytevid.carry_states
    logits = model(torch.randint(0, 256, (1, 3000), dtype=torch.uint8)).logits
    assert logits.shape == (1, 2) and torch.isfinite(logits).all()
    assert (out / "preprocessor_config.json").exists() or (out / "video_preprocessor_config.json").exists()


def test_train_long_rejects_mismatched_accumulation(tmp_path):
    train_long = _load_script()
    try:
        train_long.main(["--random_videos", "1", "--random_length", "5000", "--preset", "bytes-micro",
                         "--num_subsequences", "4", "--gradient_accumulation_steps", "3", "--output_dir",
                         str(tmp_path), "--max_steps", "1", "--report_to", "none", "--use_cpu"])
    except SystemExit as exc:
        assert "gradient_accumulation_steps" in str(exc)
    else:
        raise AssertionError("a gradient_accumulation_steps different from num_subsequences must be refused")
