"""``bytevid pretrain --objective jpeg-classification`` (paper Table 11): image classification on JPEG bytes, then
``bytevid finetune --model_name_or_path`` on videos keeps the encoder, starts a new head and reads mp4 bytes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import TrainerCallback

from bytevid_hf import BytesVideoForClassification, BytesVideoProcessor
from bytevid_hf.data.synthetic import SyntheticVideoTask
from bytevid_hf.processing.jpeg import DEFAULT_JPEG_QUALITY, encode_jpeg
from bytevid_hf.training.arguments import OBJECTIVES, PretrainingArguments
from bytevid_hf.training.finetune import load_classifier, video_processor_for
from bytevid_hf.training.pretraining import JPEGClassificationCollator

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLASSES = ("horizontal", "vertical")
TRAINING = ["--preset", "bytes-micro", "--report_to", "none", "--save_strategy", "no", "--use_cpu", "--disable_tqdm",
            "true", "--logging_steps", "1", "--seed", "0"]
STEPS = 30


def _stripes(label: str, g: np.random.Generator) -> np.ndarray:
    """A 32x32 RGB image of stripes of random period, phase and two random colours (one dark, one light),
    horizontal or vertical: only the orientation tells the classes apart."""
    period = int(g.integers(4, 9))
    stripes = ((np.arange(32) + int(g.integers(0, period))) // (period // 2)) % 2
    mask = np.broadcast_to(stripes[:, None] if label == "horizontal" else stripes[None, :], (32, 32))
    return np.where(mask[..., None] == 1, g.integers(156, 256, 3), g.integers(0, 100, 3)).astype(np.uint8)


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """An imagefolder: train/ (12 per class) and test/ (6 per class) PNGs, 2 balanced classes."""
    root = tmp_path_factory.mktemp("images")
    g = np.random.default_rng(0)
    for split, count in (("train", 12), ("test", 6)):
        for label in CLASSES:
            (root / split / label).mkdir(parents=True)
            for i in range(count):
                Image.fromarray(_stripes(label, g)).save(root / split / label / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def jpeg_pretrained(image_dir, tmp_path_factory):
    """(output_dir, TrainOutput) of the pre-training command on the imagefolder, with JPEG quality 80."""
    from bytevid_hf.training.pretraining import main

    out = tmp_path_factory.mktemp("jpeg_pretrained")
    result = main(["--objective", "jpeg-classification", "--data_dir", str(image_dir), "--output_dir", str(out),
                   "--jpeg_quality", "80", "--max_steps", str(STEPS), "--per_device_train_batch_size", "8", *TRAINING])
    return out, result


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    """3 classes (0, 1 or 2 scene cuts) of tiny mp4 clips, 2 per class: a label count unlike the images' 2."""
    root = tmp_path_factory.mktemp("videos")
    SyntheticVideoTask(num_classes=3, min_frames=24, max_frames=26).write_folder(root, 6, seed=0, progress=False)
    return root


def test_jpeg_classification_learns_from_the_jpeg_bytes(jpeg_pretrained, image_dir):
    out, result = jpeg_pretrained
    assert result.global_step == STEPS
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    losses = [entry["loss"] for entry in history if "loss" in entry]
    # balanced classes: no model that ignores its input gets below the labels' entropy, ln 2, on them
    prior = math.log(2)
    final = float(np.mean(losses[-5:]))
    assert final < prior - 0.3, f"training loss {final:.3f} (last 5 steps) is not below the prior's {prior:.3f}"
    # evaluated on the imagefolder's test/ split at the end
    assert {"eval_accuracy", "eval_loss"} <= set(json.loads((out / "eval_results.json").read_text()))

    model = BytesVideoForClassification.from_pretrained(out)
    assert model.config.architectures == ["BytesVideoForClassification"]
    assert model.config.id2label == dict(enumerate(CLASSES))
    assert {"model.safetensors", "video_preprocessor_config.json", "modeling_bytevid.py", "jpeg.py", "README.md"} <= \
        {p.name for p in out.iterdir()}
    assert "JPEG bytes" in (out / "README.md").read_text()
    # the saved processor makes exactly the JPEGs the model was trained on: quality 80, one JPEG per image
    processor = BytesVideoProcessor.from_pretrained(out)
    assert (processor.input_format, processor.jpeg_quality, processor.jpeg_size) == ("jpeg", 80, None)
    image = Image.open(next((image_dir / "train" / "vertical").iterdir()))
    batch = processor(images=[image], return_tensors="pt")
    assert bytes(batch["input_ids"][0].tolist()) == encode_jpeg(image, quality=80)


class _EncoderAtTrainBegin(TrainerCallback):
    """Records the model's parameters and the Trainer's processor when training begins."""

    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kwargs):
        self.state = {name: value.detach().clone() for name, value in model.state_dict().items()}
        self.processor = processing_class


def test_video_finetuning_keeps_the_encoder_with_a_new_head_and_reads_mp4_bytes(jpeg_pretrained, video_dir,
                                                                                  tmp_path):
    from bytevid_hf.cli.arguments import parse
    from bytevid_hf.cli.finetune import COMMAND
    from bytevid_hf.training.finetune import run_finetuning

    pretrained_dir, _ = jpeg_pretrained
    out = tmp_path / "video"
    argv = ["--model_name_or_path", str(pretrained_dir), "--data_dir", str(video_dir), "--output_dir", str(out),
            "--validation_fraction", "0", "--max_steps", "2", "--per_device_train_batch_size", "3",
            "--learning_rate", "1e-3", *TRAINING[2:]]
    model_args, data_args, training_args = parse(COMMAND, argv, "bytevid finetune").values
    spy = _EncoderAtTrainBegin()
    run_finetuning(model_args, data_args, training_args, callbacks=[spy])

    pretrained = BytesVideoForClassification.from_pretrained(pretrained_dir).state_dict()
    encoder = [name for name in pretrained if name.startswith("bytevid.")]
    assert set(spy.state) == set(encoder) | {"classifier.weight", "classifier.bias"}
    for name in encoder:  # every encoder parameter and buffer, exactly
        torch.testing.assert_close(spy.state[name], pretrained[name], rtol=0, atol=0, msg=name)
    # a new head for the 3 video labels (the checkpoint's had 2 image labels)
    assert spy.state["classifier.weight"].shape == (3, pretrained["classifier.weight"].shape[1])
    assert torch.count_nonzero(spy.state["classifier.bias"]) == 0  # a fresh head's bias (trained: not zero)
    finetuned = BytesVideoForClassification.from_pretrained(out)
    assert finetuned.config.num_labels == 3 and list(finetuned.config.id2label.values()) == sorted(
        p.name for p in video_dir.iterdir())
    # the videos are read as their mp4 bytes, not as JPEGs: the byte processor, in the run and in the output
    assert spy.processor.input_format == "encoded"
    assert BytesVideoProcessor.from_pretrained(out).input_format == "encoded"
    clip = next(video_dir.rglob("*.mp4"))
    ids = spy.processor([str(clip)], return_tensors="pt")["input_ids"][0]
    assert bytes(ids.tolist()) == clip.read_bytes() and bytes(ids[4:8].tolist()) == b"ftyp"


def test_head_is_kept_only_for_the_same_labels(jpeg_pretrained, caplog):
    pretrained_dir, _ = jpeg_pretrained
    saved = BytesVideoForClassification.from_pretrained(pretrained_dir)
    same = load_classifier(str(pretrained_dir), list(CLASSES))  # continuing the image task: the head is kept
    torch.testing.assert_close(same.classifier.weight, saved.classifier.weight, rtol=0, atol=0)
    assert same.config.problem_type == "single_label_classification"
    with caplog.at_level("WARNING"):
        other = load_classifier(str(pretrained_dir), ["no cut", "one cut"])  # same count, other labels
    assert "new classification head" in caplog.text
    assert other.config.id2label == {0: "no cut", 1: "one cut"} and other.config.problem_type is None
    assert not torch.equal(other.classifier.weight, saved.classifier.weight)
    assert torch.count_nonzero(other.classifier.bias) == 0
    std = float(other.classifier.weight.detach().std())
    assert 0.25 * other.config.initializer_range < std < 4 * other.config.initializer_range
    for name, value in saved.bytevid.state_dict().items():
        torch.testing.assert_close(other.bytevid.state_dict()[name], value, rtol=0, atol=0)


def test_video_processor_for_a_checkpoint(jpeg_pretrained, tmp_path, caplog):
    pretrained_dir, _ = jpeg_pretrained
    with caplog.at_level("WARNING"):
        assert video_processor_for(str(pretrained_dir)).to_dict() == BytesVideoProcessor().to_dict()
    assert "'jpeg' inputs" in caplog.text
    BytesVideoProcessor(max_length=1000, truncation=True).save_pretrained(tmp_path / "encoded")
    assert video_processor_for(str(tmp_path / "encoded")).max_length == 1000  # an mp4 processor is kept
    assert video_processor_for(str(tmp_path)).to_dict() == BytesVideoProcessor().to_dict()  # none saved


def test_collator_and_arguments():
    assert "jpeg-classification" in OBJECTIVES
    assert PretrainingArguments.jpeg_quality == DEFAULT_JPEG_QUALITY  # the light module's default is the processor's
    with pytest.raises(ValueError, match="input_format='jpeg'"):
        JPEGClassificationCollator(BytesVideoProcessor())
    collator = JPEGClassificationCollator(BytesVideoProcessor(input_format="jpeg"))
    image = _stripes("horizontal", np.random.default_rng(1))
    png = Image.fromarray(image)
    import io

    buffer = io.BytesIO()
    png.save(buffer, format="PNG")
    batch = collator([{"image": png, "label": 1}, {"image": {"bytes": buffer.getvalue(), "path": None}, "label": 0}])
    assert batch["labels"].tolist() == [1, 0] and batch["input_ids"].dtype == torch.uint8
    for row, mask in zip(batch["input_ids"], batch["attention_mask"]):  # both rows: the same image's JPEG
        assert bytes(row[mask.bool()].tolist()) == encode_jpeg(image)
    with pytest.raises(KeyError, match="remove_unused_columns"):
        collator([{"image": png}])


def test_bad_jpeg_data_is_named(image_dir, tmp_path):
    from bytevid_hf.training.pretraining import load_image_classification_data

    with pytest.raises(ValueError, match="exactly one of"):
        load_image_classification_data(PretrainingArguments(objective="jpeg-classification"))
    with pytest.raises(ValueError, match="no column 'picture'"):
        load_image_classification_data(PretrainingArguments(objective="jpeg-classification", data_dir=str(image_dir),
                                                            image_column="picture"))
    with pytest.raises(ValueError, match="no split 'dev'"):
        load_image_classification_data(PretrainingArguments(objective="jpeg-classification", data_dir=str(image_dir),
                                                            eval_split="dev"))
    train, evaluation = load_image_classification_data(
        PretrainingArguments(objective="jpeg-classification", data_dir=str(image_dir)))
    assert (len(train), len(evaluation)) == (24, 12)
