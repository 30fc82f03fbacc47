"""Trainer glue: video datasets (folders, ``load_dataset`` names, saved/prepared data), the batch collator, and
:func:`run_finetuning`, the fine-tuning run of ``bytevid finetune`` (``scripts/finetune.py``)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import torch

from ..data.loading import is_hub_dataset_id, load_video_dataset, load_video_folder
from .arguments import DataArguments, ModelArguments

logger = logging.getLogger(__name__)


@dataclass
class BytesVideoCollator:
    """Batch rows of encoded videos for [`BytesVideoForClassification`].

    Each row holds the video under ``video_column`` — bytes, a path, a ``datasets.Video(decode=False)`` value
    (``{"bytes": ..., "path": ...}``, as in ``load_dataset("videofolder", ...)`` rows cast to ``decode=False``, or a
    Parquet ``Video`` column), or anything else the processor reads — and an optional label under ``label_column``.
    Returns ``input_ids`` (uint8 [B, L]), ``attention_mask`` and ``labels``.
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
# Fine-tuning (`bytevid finetune`, `bytevid demo`); ModelArguments / DataArguments live in .arguments (no torch import)
# ---------------------------------------------------------------------------------------------------------------------
def load_data_arguments(data_args) -> datasets.Dataset | datasets.DatasetDict:
    """The dataset named by ``--data_dir`` / ``--dataset_path`` / ``--dataset_name`` (+ ``--dataset_config``,
    ``--dataset_revision``; ``--data_dir`` is then load_dataset's ``data_dir``), videos as the processor reads them."""
    name = getattr(data_args, "dataset_name", None)
    given = [flag for flag, value in (("--data_dir", None if name else data_args.data_dir),
                                      ("--dataset_path", data_args.dataset_path), ("--dataset_name", name)) if value]
    if len(given) != 1:
        raise ValueError("pass exactly one of --data_dir (class subfolders), --dataset_path (a local dataset) or "
                         f"--dataset_name (a load_dataset name, e.g. a Hub dataset id); got {given or 'none'}")
    if name:
        return load_video_dataset(name, config=data_args.dataset_config, data_dir=data_args.data_dir,
                                  revision=data_args.dataset_revision)
    if data_args.dataset_path:
        return load_video_dataset(data_args.dataset_path)
    return load_video_folder(data_args.data_dir)


def data_description(data_args) -> dict[str, Any]:
    """Model-card fields for the data of a run: ``dataset_name`` (a description) and ``datasets`` (Hub ids)."""
    name = getattr(data_args, "dataset_name", None)
    if name:
        config = getattr(data_args, "dataset_config", None)
        return {"dataset_name": f"{name} ({config})" if config else str(name),
                "datasets": [name] if is_hub_dataset_id(name) else None}
    if getattr(data_args, "dataset_path", None):
        return {"dataset_name": f"local dataset {Path(data_args.dataset_path).name}"}
    if getattr(data_args, "data_dir", None):
        return {"dataset_name": f"video folder {Path(data_args.data_dir).name}"}
    if getattr(data_args, "train_file", None):
        return {"dataset_name": f"{Path(data_args.train_file).name}"}
    return {}


def _load_splits(data_args: DataArguments) -> tuple[datasets.Dataset, datasets.Dataset | None]:
    data = load_data_arguments(data_args)
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


def load_classifier(model_name_or_path: str, label_names: list[str], **kwargs: Any):
    """A ``BytesVideoForClassification`` for ``label_names`` from a saved bytevid checkpoint: the encoder
    (``bytevid.*``) is the checkpoint's; the classification head is kept only when the checkpoint is a classifier of
    exactly these labels (same names, same order: continuing a run). Any other checkpoint gets a new head, initialised
    as a fresh model's, and ``problem_type`` is inferred anew: a next-byte / RGB checkpoint has no head, and the head
    of a classifier of other labels (``bytevid pretrain --objective jpeg-classification``'s image classes, another
    video task) means nothing for these, even when the label count is the same. ``kwargs`` go to ``from_pretrained``.
    """
    from ..modeling.configuration_bytevid import BytesVideoConfig
    from ..modeling import BytesVideoForClassification

    id2label = dict(enumerate(label_names))
    saved = BytesVideoConfig.from_pretrained(model_name_or_path)
    saved_labels = [saved.id2label[i] for i in range(saved.num_labels)] if saved.id2label else []
    was_classifier = BytesVideoForClassification.__name__ in (saved.architectures or [])
    new_head = was_classifier and saved_labels != list(label_names)
    if new_head:
        kwargs.setdefault("problem_type", None)
    model = BytesVideoForClassification.from_pretrained(
        model_name_or_path, id2label=id2label,  # id2label sets num_labels (num_labels too would warn)
        label2id={name: i for i, name in id2label.items()}, ignore_mismatched_sizes=True, **kwargs)
    if new_head:
        old = model.classifier
        head = torch.nn.Linear(old.in_features, old.out_features, device=old.weight.device, dtype=old.weight.dtype)
        torch.nn.init.normal_(head.weight, mean=0.0, std=model.config.initializer_range)
        torch.nn.init.zeros_(head.bias)
        model.classifier = head
        logger.warning(f"{model_name_or_path} is a classifier of other labels ({saved_labels}): its encoder is "
                       f"kept and a new classification head starts for {list(label_names)}")
    return model


def video_processor_for(model_name_or_path: str):
    """The processor fine-tuning on videos uses with a checkpoint: the checkpoint's own when it reads encoded video
    bytes, else (none saved, or a JPEG-mode processor, e.g. from ``bytevid pretrain --objective
    jpeg-classification``) the default byte processor, ``BytesVideoProcessor()``: the model reads each video's encoded
    (mp4) bytes, as in the paper's transfer from JPEG bytes to mp4 bytes (Table 11)."""
    from ..processing import BytesVideoProcessor

    try:
        processor = BytesVideoProcessor.from_pretrained(model_name_or_path)
    except OSError:
        return BytesVideoProcessor()
    if processor.input_format != "encoded":
        logger.warning(f"{model_name_or_path}'s processor reads {processor.input_format!r} inputs; fine-tuning on "
                       "videos reads their encoded bytes instead (BytesVideoProcessor(), input_format='encoded')")
        return BytesVideoProcessor()
    return processor


def run_finetuning(
    model_args: ModelArguments, data_args: DataArguments, training_args, callbacks: list | None = None
) -> dict[str, float]:
    """Fine-tune with ``transformers.Trainer``; save model + processor to ``training_args.output_dir``.

    The Trainer is a :class:`~bytevid_hf.training.trainer.BytesVideoTrainer` given the processor: the output folder
    holds model, processor, their code and the package's model card (with the final evaluation), so
    ``pipeline("video-classification", model=output_dir)`` loads it; with ``--push_to_hub`` (+ ``--hub_model_id``)
    that folder is pushed at the end (pickle files left out). ``callbacks`` are passed to the Trainer. Returns the
    final evaluation metrics (empty when there is no evaluation split).
    """
    from ..modeling.configuration_bytevid import BytesVideoConfig
    from ..modeling import BytesVideoForClassification
    from ..processing import BytesVideoProcessor
    from .metrics import classification_metrics
    from .trainer import BytesVideoTrainer

    train, evaluation = _load_splits(data_args)
    names = _label_names(train, data_args.label_column)
    id2label = dict(enumerate(names))
    label2id = {name: i for i, name in id2label.items()}
    if model_args.model_name_or_path:
        if model_args.config_overrides:
            raise ValueError("config_overrides applies to fresh models (--preset), not to --model_name_or_path")
        model = load_classifier(model_args.model_name_or_path, names,
                                **({"ssm_backend": model_args.ssm_backend} if model_args.ssm_backend else {}))
        processor = video_processor_for(model_args.model_name_or_path)
    else:
        overrides = {name: getattr(model_args, name) for name in ("pooling", "ssm_backend") if getattr(model_args, name)}
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
    base_model = model_args.model_name_or_path
    trainer = BytesVideoTrainer(
        model=model,
        args=training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        data_collator=BytesVideoCollator(
            processor, video_column=data_args.video_column, label_column=data_args.label_column
        ),
        processing_class=processor,
        compute_metrics=classification_metrics(model.config.problem_type),
        callbacks=callbacks,
        card_kwargs={**data_description(data_args),
                     "base_model": base_model if base_model and not os.path.isdir(base_model) else None},
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    return evaluate_and_finish(trainer, evaluation)


def evaluate_and_finish(trainer, evaluation) -> dict[str, float]:
    """After training: evaluate on ``evaluation`` (when given; metrics logged and saved as ``eval``), then
    :func:`finish_training`. Returns the metrics (empty without an evaluation set)."""
    metrics: dict[str, float] = {}
    if evaluation is not None:
        metrics = trainer.evaluate()
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)
    finish_training(trainer)
    return metrics


def finish_training(trainer) -> None:
    """Save the model and processor to ``output_dir`` (with code and card) and, with ``--push_to_hub``, push it."""
    if trainer.args.push_to_hub:
        trainer.push_to_hub()  # saves first, then uploads output_dir
    else:
        trainer.save_model(trainer.args.output_dir)


__all__ += ["ModelArguments", "DataArguments", "data_description", "evaluate_and_finish", "finish_training",
            "load_classifier", "load_data_arguments", "run_finetuning", "parse_config_overrides", "video_processor_for"]
