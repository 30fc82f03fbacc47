"""Self-supervised pre-training with Trainer (paper Table 10): next-byte prediction and RGB reconstruction.

``bytevid pretrain --objective {next-byte,rgb}`` (``scripts/pretrain.py``) runs :func:`run_pretraining`. The saved
checkpoint's backbone (``bytevid.*``) loads into :class:`~bytevid_hf.BytesVideoForClassification` with
``from_pretrained(checkpoint, num_labels=...)``; transformers' warning then lists exactly the new head parameters.
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


def main(argv=None):
    """``bytevid pretrain`` (``scripts/pretrain.py``): :func:`bytevid_hf.cli.pretrain.main`."""
    from ..cli.pretrain import main as cli_main

    return cli_main(argv)


__all__ = ["NextByteCollator", "PretrainingArguments", "load_pretraining_videos", "run_pretraining",
           "default_learning_rate", "OBJECTIVES"]
