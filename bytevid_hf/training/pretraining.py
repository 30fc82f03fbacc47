"""Pre-training with Trainer: next-byte prediction and RGB reconstruction on videos (paper Table 10), and image
classification on JPEG bytes (Table 11).

``bytevid pretrain --objective {next-byte,rgb,jpeg-classification}`` (``scripts/pretrain.py``) runs
:func:`run_pretraining`. The saved checkpoint's backbone (``bytevid.*``) loads into
:class:`~bytevid_hf.BytesVideoForClassification` with ``from_pretrained(checkpoint, num_labels=...)``; transformers'
warning then lists exactly the new head parameters. ``bytevid finetune --model_name_or_path checkpoint`` does that
and, for a ``jpeg-classification`` checkpoint, starts a new head for the video labels and reads the videos' encoded
bytes, not JPEGs (:func:`~bytevid_hf.training.finetune.load_classifier`, :func:`~.finetune.video_processor_for`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch

from ..data.sources import VIDEO_EXTENSIONS
from .arguments import OBJECTIVES, PretrainingArguments


@dataclass
class NextByteCollator:
    """Rows with an encoded video under ``video_column`` -> ``input_ids`` (uint8 [B, L]), ``attention_mask`` and
    ``labels`` (the inputs; the model shifts them) for [`BytesVideoForCausalLM`].

    Videos longer than ``max_length`` bytes are cut to one window of that length: a random one (``crop="random"``,
    drawn from a generator seeded with ``seed``, so a run is reproducible) or the first (``crop="start"``).
    """

    processor: Any
    max_length: int | None = None
    crop: str = "random"
    seed: int = 0
    video_column: str = "video"

    def __post_init__(self):
        if self.crop not in ("random", "start"):
            raise ValueError(f"crop must be 'random' or 'start', got {self.crop!r}")
        if self.max_length is not None and self.max_length < 2:
            raise ValueError(f"max_length must be >= 2 bytes (one input and one next byte), got {self.max_length}")
        self._rng = np.random.default_rng(self.seed)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        from ..processing import read_video_bytes

        missing = [i for i, row in enumerate(rows) if self.video_column not in row]
        if missing:
            raise KeyError(f"rows {missing} have no {self.video_column!r} column; with Trainer set "
                           "remove_unused_columns=False")
        arrays = []
        for row in rows:
            data = read_video_bytes(row[self.video_column])
            if self.max_length is not None and data.size > self.max_length:
                start = int(self._rng.integers(0, data.size - self.max_length + 1)) if self.crop == "random" else 0
                data = data[start : start + self.max_length]
            arrays.append(data)
        batch = dict(self.processor(arrays, return_tensors="pt"))
        batch["labels"] = batch["input_ids"]
        return batch


def load_pretraining_videos(data_dir: str | None = None, dataset_path: str | None = None,
                            video_column: str = "video", *, dataset_name: str | None = None,
                            dataset_config: str | None = None, split: str = "train",
                            revision: str | None = None) -> datasets.Dataset:
    """The videos to pre-train on: every video under ``data_dir`` (recursively, labels ignored; rows hold paths, read
    when a batch is made), a local dataset (``dataset_path``: ``save_to_disk``, a ``scripts/prepare_data.py`` output
    or a folder ``load_dataset`` reads) or a ``load_dataset`` name (``dataset_name``: a Hub id, or ``"videofolder"``
    with ``data_dir``), with a ``video_column`` (a ``Video`` feature, bytes or paths). ``split`` of a dataset with
    several (default ``"train"``, else its first)."""
    from ..data.loading import load_video_dataset

    given = [flag for flag, value in (("data_dir", None if dataset_name else data_dir),
                                      ("dataset_path", dataset_path), ("dataset_name", dataset_name)) if value]
    if len(given) != 1:
        raise ValueError("pass exactly one of data_dir (a folder of videos), dataset_path (a local dataset) or "
                         f"dataset_name (a load_dataset name); got {given or 'none'}")
    if dataset_name or dataset_path:
        source = dataset_name or dataset_path
        data = load_video_dataset(source, config=dataset_config, data_dir=data_dir, revision=revision) \
            if dataset_name else load_video_dataset(source)
        if isinstance(data, datasets.DatasetDict):
            data = data[split] if split in data else next(iter(data.values()))
        if video_column not in data.column_names:
            raise ValueError(f"dataset {str(source)!r} has no column {video_column!r}; columns: {data.column_names}")
        return data
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"video folder {str(root)!r} does not exist or is not a directory")
    paths = sorted(os.path.abspath(p) for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
    if not paths:
        raise ValueError(f"video folder {str(root)!r} holds no files with extensions {VIDEO_EXTENSIONS}")
    return datasets.Dataset.from_dict({video_column: paths, "path": paths},
                                      features=datasets.Features({video_column: datasets.Video(decode=False),
                                                                  "path": datasets.Value("string")}))


@dataclass
class JPEGClassificationCollator:
    """Rows with an image under ``image_column`` and a label under ``label_column`` -> ``input_ids`` (uint8 [B, L]:
    each image's JPEG bytes, made by ``processor``, a ``BytesVideoProcessor(input_format="jpeg")`` whose
    ``jpeg_quality`` / ``jpeg_size`` / ``max_length`` the checkpoint saves), ``attention_mask`` and ``labels``.

    An image may be anything the processor's ``images=`` takes (a PIL image, as a ``datasets.Image`` column gives, a
    uint8 array, an encoded image file's path or bytes) or a ``datasets.Image(decode=False)`` value
    (``{"bytes": ..., "path": ...}``).
    """

    processor: Any
    image_column: str = "image"
    label_column: str = "label"

    def __post_init__(self):
        if getattr(self.processor, "input_format", None) != "jpeg":
            raise ValueError("JPEGClassificationCollator needs a BytesVideoProcessor(input_format='jpeg'), got "
                             f"input_format={getattr(self.processor, 'input_format', None)!r}")

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        for column in (self.image_column, self.label_column):
            missing = [i for i, row in enumerate(rows) if column not in row]
            if missing:
                raise KeyError(f"rows {missing} have no {column!r} column; with Trainer set "
                               "remove_unused_columns=False")
        images = [_image_value(row[self.image_column]) for row in rows]
        batch = dict(self.processor(images=images, return_tensors="pt"))
        batch["labels"] = torch.tensor([row[self.label_column] for row in rows], dtype=torch.long)
        return batch


def _image_value(image: Any) -> Any:
    """A ``datasets.Image(decode=False)`` value's bytes (or path); anything else as it is."""
    if isinstance(image, dict) and ("bytes" in image or "path" in image):
        return image.get("bytes") or image.get("path")
    return image


def load_image_classification_data(args: PretrainingArguments) -> tuple[datasets.Dataset, datasets.Dataset | None]:
    """(train, evaluation or None) of ``--objective jpeg-classification``: an imagefolder (``--data_dir`` alone: class
    subfolders of images, optionally under ``train/`` / ``test/`` split folders), a local dataset (``--dataset_path``)
    or a ``load_dataset`` name (``--dataset_name``, with ``--dataset_config``, ``--data_dir``,
    ``--dataset_revision``), with ``--image_column`` and ``--label_column``. Training split ``--train_split``;
    evaluation ``--eval_split``, by default ``validation`` or ``test`` when the dataset has it."""
    from ..data.loading import load_video_dataset

    given = [flag for flag, value in (("data_dir", None if args.dataset_name else args.data_dir),
                                      ("dataset_path", args.dataset_path), ("dataset_name", args.dataset_name)) if value]
    if len(given) != 1:
        raise ValueError("jpeg-classification: pass exactly one of data_dir (an imagefolder: class subfolders of "
                         "images), dataset_path (a local dataset) or dataset_name (a load_dataset name); got "
                         f"{given or 'none'}")
    if args.dataset_name:
        source = args.dataset_name
        data = load_video_dataset(source, config=args.dataset_config, data_dir=args.data_dir,
                                  revision=args.dataset_revision)
    elif args.dataset_path:
        source = args.dataset_path
        data = load_video_dataset(source)
    else:
        source = args.data_dir
        if not Path(source).is_dir():
            raise FileNotFoundError(f"image folder {source!r} does not exist or is not a directory")
        data = load_video_dataset("imagefolder", data_dir=source)
    evaluation = None
    if isinstance(data, datasets.DatasetDict):
        if args.train_split not in data:
            raise ValueError(f"dataset {str(source)!r} has no split {args.train_split!r}; splits: {list(data)}")
        eval_split = args.eval_split or next((s for s in ("validation", "test") if s in data), None)
        if eval_split is not None and eval_split not in data:
            raise ValueError(f"dataset {str(source)!r} has no split {eval_split!r}; splits: {list(data)}")
        evaluation = data[eval_split] if eval_split is not None else None
        data = data[args.train_split]
    elif args.eval_split:
        raise ValueError(f"dataset {str(source)!r} has one split; --eval_split {args.eval_split!r} does not apply")
    for part in (data, evaluation):
        for column in (args.image_column, args.label_column) if part is not None else ():
            if column not in part.column_names:
                raise ValueError(f"dataset {str(source)!r} has no column {column!r}; columns: {part.column_names} "
                                 "(--image_column, --label_column)")
    return data, evaluation


def _jpeg_description(args: PretrainingArguments) -> dict[str, Any]:
    """Model-card fields of a jpeg-classification run: the images' source and what the model was trained on."""
    from .finetune import data_description

    card = data_description(args)
    if not args.dataset_name and not args.dataset_path and args.data_dir:
        card["dataset_name"] = f"image folder {Path(args.data_dir).name}"
    card["notes"] = ("Pre-trained to classify images from their JPEG bytes (`bytevid pretrain --objective "
                     "jpeg-classification`; the processor saved here is in JPEG mode). Fine-tune it on videos with "
                     "`bytevid finetune --model_name_or_path <this checkpoint>`: the encoder is kept, the head is new "
                     "and the videos are read as their encoded (mp4) bytes.")
    card["tags"] = ["jpeg-pretraining"]
    return card


def default_learning_rate(preset: str, phase: str) -> float:
    """The paper's Adam learning rate for ``preset`` (appendix A.2); 1e-3 for this package's bytes-micro."""
    from ..modeling.configuration_bytevid import PRESET_LEARNING_RATES

    return PRESET_LEARNING_RATES.get(preset, PRESET_LEARNING_RATES["bytes-tiny"])[phase]


def run_pretraining(args: PretrainingArguments, training_args, learning_rate_given: bool = True, callbacks=None):
    """Pre-train with Trainer (a :class:`~bytevid_hf.training.trainer.BytesVideoTrainer` given the processor); save
    model, processor, code and card to ``training_args.output_dir`` (pushed with ``--push_to_hub``); return the
    TrainOutput."""
    from .finetune import data_description, finish_training
    from .trainer import BytesVideoTrainer

    from ..modeling.configuration_bytevid import BytesVideoConfig
    from ..modeling import BytesVideoForCausalLM
    from ..processing import BytesVideoProcessor

    if args.objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {args.objective!r}")
    if args.objective == "jpeg-classification":
        return _run_jpeg_classification(args, training_args, learning_rate_given, callbacks)
    if args.objective == "next-byte":
        model_class = BytesVideoForCausalLM
    else:
        from ..modeling.modeling_rgb import BytesVideoForRGBReconstruction as model_class
    if args.model_name_or_path:
        model = model_class.from_pretrained(args.model_name_or_path,
                                            **({"ssm_backend": args.ssm_backend} if args.ssm_backend else {}))
    else:
        overrides = {name: getattr(args, name) for name in ("pooling", "ssm_backend") if getattr(args, name)}
        if args.config_overrides:
            import json

            try:
                overrides.update(json.loads(args.config_overrides))
            except json.JSONDecodeError as e:
                raise ValueError(f"--config_overrides must be a JSON object, got {args.config_overrides!r}: {e}") from e
        model = model_class(BytesVideoConfig.from_preset(args.preset, **overrides))
    if not learning_rate_given:
        training_args.learning_rate = default_learning_rate(args.preset, "pretrain")
    processor = BytesVideoProcessor()
    if args.objective == "next-byte":
        collator = NextByteCollator(processor, max_length=args.max_length, crop=args.crop, seed=training_args.seed,
                                    video_column=args.video_column)
    else:
        from ..processing.frames import RGBReconstructionCollator

        collator = RGBReconstructionCollator(processor, num_frames=model.config.reconstruction_frames,
                                             size=model.config.reconstruction_size)
    training_args.remove_unused_columns = False
    data = load_pretraining_videos(args.data_dir, args.dataset_path, args.video_column, dataset_name=args.dataset_name,
                                   dataset_config=args.dataset_config, split=args.train_split,
                                   revision=args.dataset_revision)
    trainer = BytesVideoTrainer(model=model, args=training_args, train_dataset=data, data_collator=collator,
                                processing_class=processor, callbacks=list(callbacks or []),
                                card_kwargs=data_description(args))
    result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_state()
    finish_training(trainer)
    return result


def _run_jpeg_classification(args: PretrainingArguments, training_args, learning_rate_given: bool, callbacks):
    """``--objective jpeg-classification``: a ``BytesVideoForClassification`` trained on the JPEG bytes of labelled
    images (paper Table 11); evaluated on the evaluation split, if any, at the end."""
    from .finetune import _label_names, evaluate_and_finish, load_classifier, parse_config_overrides
    from .metrics import classification_metrics
    from .trainer import BytesVideoTrainer

    from ..modeling.configuration_bytevid import BytesVideoConfig
    from ..modeling import BytesVideoForClassification
    from ..processing import BytesVideoProcessor

    train, evaluation = load_image_classification_data(args)
    names = _label_names(train, args.label_column)
    if args.model_name_or_path:
        if args.config_overrides:
            raise ValueError("config_overrides applies to new models (--preset), not to --model_name_or_path")
        model = load_classifier(args.model_name_or_path, names,
                                **({"ssm_backend": args.ssm_backend} if args.ssm_backend else {}))
    else:
        overrides = {name: getattr(args, name) for name in ("pooling", "ssm_backend") if getattr(args, name)}
        overrides.update(parse_config_overrides(args.config_overrides))
        id2label = dict(enumerate(names))
        model = BytesVideoForClassification(BytesVideoConfig.from_preset(
            args.preset, num_labels=len(names), id2label=id2label, label2id={n: i for i, n in id2label.items()},
            **overrides))
    model.config.problem_type = "single_label_classification"  # one int label per image
    if not learning_rate_given:
        training_args.learning_rate = default_learning_rate(args.preset, "pretrain")
    processor = BytesVideoProcessor(input_format="jpeg", jpeg_quality=args.jpeg_quality, jpeg_size=args.jpeg_size,
                                    max_length=args.max_length, truncation=True if args.max_length else None)
    training_args.remove_unused_columns = False
    trainer = BytesVideoTrainer(model=model, args=training_args, train_dataset=train, eval_dataset=evaluation,
                                data_collator=JPEGClassificationCollator(processor, args.image_column,
                                                                         args.label_column),
                                processing_class=processor, compute_metrics=classification_metrics("single_label_classification"),
                                callbacks=list(callbacks or []), card_kwargs=_jpeg_description(args))
    result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_state()
    evaluate_and_finish(trainer, evaluation)
    return result


def main(argv=None):
    """``bytevid pretrain`` (``scripts/pretrain.py``): :func:`bytevid_hf.cli.pretrain.main`."""
    from ..cli.pretrain import main as cli_main

    return cli_main(argv)


__all__ = ["JPEGClassificationCollator", "NextByteCollator", "PretrainingArguments", "load_image_classification_data",
           "load_pretraining_videos", "run_pretraining", "default_learning_rate", "OBJECTIVES"]
