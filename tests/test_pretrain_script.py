"""scripts/pretrain.py end to end: both objectives train with Trainer on tiny videos, and the result fine-tunes."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from bytevid_hf import BytesVideoForCausalLM, BytesVideoForClassification, BytesVideoForRGBReconstruction
from bytevid_hf.training.pretraining import NextByteCollator, default_learning_rate
from bytevid_hf.data.synthetic import SyntheticVideoTask
from bytevid_hf.testing.baselines import assert_encoder_transferred

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "pretrain.py"

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py; 2 threads make these tiny steps much slower


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    SyntheticVideoTask(num_classes=2, min_frames=16, max_frames=18).write_folder(root, 4, seed=0, progress=False)
    return root


def _run(argv):
    spec = importlib.util.spec_from_file_location("pretrain_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from bytevid_hf.training.pretraining import main

    return main(argv)


COMMON = ["--preset", "bytes-micro", "--max_steps", "3", "--per_device_train_batch_size", "2", "--report_to", "none",
          "--save_strategy", "no", "--use_cpu", "--disable_tqdm", "true", "--logging_steps", "1"]


def _clip_bytes(video_dir, length=3000):
    """(ids, mask) of the first ``length`` bytes of two of the clips (the second clip's last third masked)."""
    paths = sorted(video_dir.rglob("*.mp4"))[:2]
    ids = torch.stack([torch.frombuffer(bytearray(p.read_bytes()[:length]), dtype=torch.uint8) for p in paths])
    mask = torch.ones_like(ids, dtype=torch.long)
    mask[1, 2 * length // 3 :] = 0
    return ids, mask


@pytest.mark.parametrize("objective", ["next-byte", "rgb"])
def test_pretrain_then_finetune(objective, video_dir, tmp_path):
    out = tmp_path / "pre"
    extra = ["--max_length", "2048"] if objective == "next-byte" else [
        "--config_overrides", '{"reconstruction_tokens": [2, 2, 2], "reconstruction_frames": 4, '
        '"reconstruction_size": 16, "reconstruction_hidden_size": 8}']
    result = _run(["--objective", objective, "--data_dir", str(video_dir), "--output_dir", str(out), *COMMON, *extra])
    assert result.global_step == 3 and torch.isfinite(torch.tensor(result.training_loss))
    cls = BytesVideoForCausalLM if objective == "next-byte" else BytesVideoForRGBReconstruction
    pretrained = cls.from_pretrained(out)
    assert pretrained.config.architectures == [cls.__name__]
    classifier = BytesVideoForClassification.from_pretrained(out, num_labels=2)
    # every encoder parameter, a fresh head, the same hidden states on the clips the pre-training read
    assert_encoder_transferred(pretrained, classifier, *_clip_bytes(video_dir))


def test_learning_rate_defaults_follow_the_paper(video_dir, tmp_path, monkeypatch):
    assert default_learning_rate("bytes-tiny", "pretrain") == 9e-5
    assert default_learning_rate("bytes-large", "finetune") == 1e-5
    seen = {}
    import bytevid_hf.training.pretraining as pretraining

    real = pretraining.run_pretraining

    def spy(args, training_args, learning_rate_given=True, callbacks=None):
        training_args.max_steps = 1
        seen["given"] = learning_rate_given
        result = real(args, training_args, learning_rate_given, callbacks)
        seen["lr"] = training_args.learning_rate
        return result

    monkeypatch.setattr(pretraining, "run_pretraining", spy)
    pretraining.main(["--objective", "next-byte", "--data_dir", str(video_dir), "--output_dir", str(tmp_path / "a"),
                      "--max_length", "1024", *COMMON])
    assert seen == {"given": False, "lr": default_learning_rate("bytes-micro", "pretrain")}


def test_next_byte_collator_crops_reproducibly_and_rejects_bad_settings():
    from bytevid_hf import BytesVideoProcessor

    rows = [{"video": bytes(range(256)) * 40}, {"video": bytes(100)}]
    a = NextByteCollator(BytesVideoProcessor(), max_length=512, seed=3)(rows)
    b = NextByteCollator(BytesVideoProcessor(), max_length=512, seed=3)(rows)
    assert a["input_ids"].shape == (2, 512) and torch.equal(a["input_ids"], b["input_ids"])
    assert torch.equal(a["labels"], a["input_ids"]) and int(a["attention_mask"][1].sum()) == 100
    first = a["input_ids"][0].tolist()
    assert all((y - x) % 256 == 1 for x, y in zip(first, first[1:]))  # one contiguous window of the video
    start = NextByteCollator(BytesVideoProcessor(), max_length=512, crop="start")(rows)
    assert start["input_ids"][0, 0] == 0
    with pytest.raises(ValueError, match="crop"):
        NextByteCollator(BytesVideoProcessor(), crop="middle")
    with pytest.raises(KeyError, match="remove_unused_columns"):
        NextByteCollator(BytesVideoProcessor())([{"path": "x"}])


def test_next_byte_pretraining_on_jpeg_images_transfers_to_video(tmp_path, video_dir):
    """Table 11's route: pre-train on JPEG bytes of images (processor in JPEG mode), fine-tune on video bytes."""
    import numpy as np
    from transformers import Trainer, TrainingArguments

    from bytevid_hf import BytesVideoConfig, BytesVideoProcessor

    g = np.random.default_rng(0)
    images = [np.repeat(np.repeat(g.integers(0, 256, (8, 8, 3), dtype=np.uint8), 4, 0), 4, 1) for _ in range(6)]
    jpeg = BytesVideoProcessor(input_format="jpeg", jpeg_quality=90)
    batch = jpeg(images=images, return_tensors="pt")
    assert batch["input_ids"][:, :2].tolist() == [[0xFF, 0xD8]] * 6  # JPEG SOI markers
    rows = [{"input_ids": ids[mask.bool()]} for ids, mask in zip(batch["input_ids"], batch["attention_mask"])]

    def collate(items):
        out = BytesVideoProcessor()([r["input_ids"].numpy() for r in items], return_tensors="pt")
        return {**out, "labels": out["input_ids"]}

    torch.manual_seed(0)
    model = BytesVideoForCausalLM(BytesVideoConfig.from_preset("bytes-micro"))
    args = TrainingArguments(output_dir=str(tmp_path / "run"), per_device_train_batch_size=3, max_steps=3,
                             learning_rate=1e-3, report_to=[], save_strategy="no", use_cpu=True, disable_tqdm=True,
                             remove_unused_columns=False)
    Trainer(model=model, args=args, train_dataset=rows, data_collator=collate).train()
    model.save_pretrained(tmp_path / "image_pretrained")
    classifier = BytesVideoForClassification.from_pretrained(tmp_path / "image_pretrained", num_labels=2)
    # the whole encoder (embeddings, every Mamba layer, poolers, final norm) and nothing else, and on video bytes
    # the classifier's encoder computes exactly what the image-pre-trained one does
    assert_encoder_transferred(model, classifier, *_clip_bytes(video_dir))


def test_pretrain_from_a_load_dataset_name(video_dir, tmp_path):
    """--dataset_name videofolder --data_dir ...: rows hold Video values (read as the encoded files)."""
    out = tmp_path / "pre"
    result = _run(["--objective", "next-byte", "--dataset_name", "videofolder", "--data_dir", str(video_dir),
                   "--output_dir", str(out), "--max_length", "1024", *COMMON[:2], "--max_steps", "1", *COMMON[4:]])
    assert result.global_step == 1
    assert {"model.safetensors", "video_preprocessor_config.json", "modeling_causal.py", "README.md"} <= \
        {p.name for p in out.iterdir()}
