"""Trainer glue: video datasets from folders, the batch collator, and metrics for fine-tuning byte models."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import torch

from ..data.sources import VIDEO_EXTENSIONS, walk_class_folders


def load_video_folder(root: str | os.PathLike, extensions: tuple[str, ...] = VIDEO_EXTENSIONS) -> datasets.Dataset:
    """Read ``root/<class_name>/<video>`` into a ``datasets.Dataset``.

    Columns: ``video`` (binary: the encoded file bytes), ``label`` (``ClassLabel`` named after the subfolders, sorted)
    and ``path``. Raises ``FileNotFoundError``/``ValueError`` naming the folder when it is missing or holds no videos.
    """
    class_names, files = walk_class_folders(root, extensions)
    paths = [str(path) for path, _ in files]
    labels = [label for _, label in files]

    def rows():
        for path, label in zip(paths, labels):
            yield {"video": Path(path).read_bytes(), "label": label, "path": path}

    features = datasets.Features(
        {"video": datasets.Value("binary"), "label": datasets.ClassLabel(names=class_names), "path": datasets.Value("string")}
    )
    return datasets.Dataset.from_generator(rows, features=features)


@dataclass
class BytesVideoCollator:
    """Batch rows of encoded videos for [`BytesVideoForClassification`].

    Each row holds the video under ``video_column`` (bytes, path, or anything the processor reads) and an optional
    label under ``label_column``. Returns ``input_ids`` (uint8 [B, L]), ``attention_mask`` and ``labels``.
    """

    processor: Any
    video_column: str = "video"
    label_column: str = "label"
    max_length: int | None = None
    processor_kwargs: dict = field(default_factory=dict)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        missing = [i for i, row in enumerate(rows) if self.video_column not in row]
        if missing:
            raise KeyError(
                f"rows {missing} have no {self.video_column!r} column (keys: {sorted(rows[missing[0]])}); "
                "with Trainer, set remove_unused_columns=False so the video column reaches the collator"
            )
        kwargs = dict(self.processor_kwargs)
        if self.max_length is not None:
            kwargs.setdefault("max_length", self.max_length)
            kwargs.setdefault("truncation", True)
        batch = dict(self.processor([row[self.video_column] for row in rows], return_tensors="pt", **kwargs))
        if rows and self.label_column in rows[0] and rows[0][self.label_column] is not None:
            labels = [row[self.label_column] for row in rows]
            dtype = torch.float32 if isinstance(labels[0], (float, list, tuple)) else torch.long
            batch["labels"] = torch.tensor(labels, dtype=dtype)
        return batch


__all__ = ["BytesVideoCollator", "load_video_folder"]


# ---------------------------------------------------------------------------------------------------------------------
# Fine-tuning (shared by scripts/finetune.py and scripts/demo.py)
# ---------------------------------------------------------------------------------------------------------------------
@dataclass
class ModelArguments:
    """Which model to fine-tune."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "A saved bytevid checkpoint (dir) to start from. Mutually exclusive with --preset."}
    )
    preset: str = field(
        default="bytes-micro",
        metadata={"help": "Build a fresh model from a preset: bytes-micro, bytes-tiny, bytes-base or bytes-large."},
    )
    pooling: str | None = field(default=None, metadata={"help": "Override the pooling: concat, average or attention."})
    config_overrides: str | None = field(
        default=None,
        metadata={
            "help": "JSON object of BytesVideoConfig fields that override the preset, e.g. "
            '\'{"mixer_type": "transformer", "hidden_size": 48}\' (fresh models only).'
        },
    )
    problem_type: str | None = field(
        default=None,
        metadata={"help": "single_label_classification (default for int labels), multi_label_classification, regression."},
    )


@dataclass
class DataArguments:
    """Where the videos come from."""

    data_dir: str | None = field(default=None, metadata={"help": "Folder of class subfolders of videos."})
    dataset_path: str | None = field(
        default=None, metadata={"help": "A datasets dataset saved with save_to_disk (Dataset or DatasetDict)."}
    )
    video_column: str = field(default="video", metadata={"help": "Binary column with the encoded video bytes."})
    label_column: str = field(default="label", metadata={"help": "Label column (ClassLabel or int)."})
    train_split: str = field(default="train", metadata={"help": "Split name for training (DatasetDict)."})
    eval_split: str | None = field(
        default=None, metadata={"help": "Split name for evaluation; default: 'validation' or 'test' when present."}
    )
    validation_fraction: float = field(
        default=0.2, metadata={"help": "Held-out fraction when the data has no evaluation split (stratified)."}
    )
    split_seed: int = field(default=0, metadata={"help": "Seed of the train/held-out split."})
    max_length: int | None = field(default=None, metadata={"help": "Truncate videos to this many bytes."})
    max_train_minutes: float | None = field(
        default=None, metadata={"help": "Stop training after this many minutes of wall-clock time."}
    )
    transcode: bool = field(default=False, metadata={"help": "Re-encode every video to the canonical format first."})


def _load_splits(data_args: DataArguments) -> tuple[datasets.Dataset, datasets.Dataset | None]:
    if (data_args.data_dir is None) == (data_args.dataset_path is None):
        raise ValueError("pass exactly one of --data_dir (class subfolders) or --dataset_path (saved datasets dataset)")
    if data_args.data_dir is not None:
        data = load_video_folder(data_args.data_dir)
    else:
        data = datasets.load_from_disk(data_args.dataset_path)
    if isinstance(data, datasets.DatasetDict):
        if data_args.train_split not in data:
            raise ValueError(f"dataset has no split {data_args.train_split!r}; splits: {list(data)}")
        eval_split = data_args.eval_split or next((s for s in ("validation", "test") if s in data), None)
        if eval_split is not None:
            return data[data_args.train_split], data[eval_split]
        data = data[data_args.train_split]
    for column in (data_args.video_column, data_args.label_column):
        if column not in data.column_names:
            raise ValueError(f"dataset has no column {column!r}; columns: {data.column_names}")
    if not data_args.validation_fraction:
        return data, None
    stratify = data_args.label_column if isinstance(data.features[data_args.label_column], datasets.ClassLabel) else None
    parts = data.train_test_split(
        test_size=data_args.validation_fraction, seed=data_args.split_seed, stratify_by_column=stratify
    )
    return parts["train"], parts["test"]


def _label_names(train: datasets.Dataset, label_column: str) -> list[str]:
    feature = train.features[label_column]
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names)
    if isinstance(feature, datasets.Sequence):  # multi-hot labels
        return [f"LABEL_{i}" for i in range(len(train[0][label_column]))]
    values = sorted(set(train[label_column]))
    return [str(v) for v in range(max(values) + 1)]


def parse_config_overrides(text: str | None) -> dict[str, Any]:
    """``ModelArguments.config_overrides`` (a JSON object as text, or None) -> dict of config fields."""
    if not text:
        return {}
    import json

    try:
        overrides = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"config_overrides must be a JSON object, got {text!r}: {error}") from None
    if not isinstance(overrides, dict):
        raise ValueError(f"config_overrides must be a JSON object of config fields, got {text!r}")
    return overrides


def run_finetuning(
    model_args: ModelArguments, data_args: DataArguments, training_args, callbacks: list | None = None
) -> dict[str, float]:
    """Fine-tune with ``transformers.Trainer``; save model + processor to ``training_args.output_dir``.

    ``callbacks`` are passed to the Trainer. Returns the final evaluation metrics (empty when there is no
    evaluation split).
    """
    from transformers import Trainer

    from ..modeling.configuration_bytevid import BytesVideoConfig
    from .metrics import classification_metrics
    from ..modeling import BytesVideoForClassification
    from ..processing import BytesVideoProcessor

    train, evaluation = _load_splits(data_args)
    names = _label_names(train, data_args.label_column)
    id2label = dict(enumerate(names))
    label2id = {name: i for i, name in id2label.items()}
    if model_args.model_name_or_path:
        if model_args.config_overrides:
            raise ValueError("config_overrides applies to fresh models (--preset), not to --model_name_or_path")
        model = BytesVideoForClassification.from_pretrained(
            model_args.model_name_or_path,
            num_labels=len(names),
            id2label=id2label,
            label2id=label2id,
            ignore_mismatched_sizes=True,
        )
        try:
            processor = BytesVideoProcessor.from_pretrained(model_args.model_name_or_path)
        except OSError:
            processor = BytesVideoProcessor()
    else:
        overrides = {"pooling": model_args.pooling} if model_args.pooling else {}
        overrides.update(parse_config_overrides(model_args.config_overrides))
        config = BytesVideoConfig.from_preset(
            model_args.preset, num_labels=len(names), id2label=id2label, label2id=label2id, **overrides
        )
        model = BytesVideoForClassification(config)
        processor = BytesVideoProcessor()
    if model_args.problem_type:
        model.config.problem_type = model_args.problem_type
    if data_args.max_length is not None:
        processor.max_length = data_args.max_length
        processor.truncation = True
    if data_args.transcode:
        processor.transcode = True

    training_args.remove_unused_columns = False  # the collator needs the raw video column
    callbacks = list(callbacks or [])
    if data_args.max_train_minutes:
        from .callbacks import TimeBudgetCallback

        callbacks.append(TimeBudgetCallback(data_args.max_train_minutes))
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        data_collator=BytesVideoCollator(
            processor, video_column=data_args.video_column, label_column=data_args.label_column
        ),
        compute_metrics=classification_metrics(model.config.problem_type),
        callbacks=callbacks,
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    processor.save_pretrained(training_args.output_dir)
    metrics: dict[str, float] = {}
    if evaluation is not None:
        metrics = trainer.evaluate()
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)
    return metrics


__all__ += ["ModelArguments", "DataArguments", "run_finetuning", "parse_config_overrides"]
