"""Video-QA fine-tuning and evaluation with [`BytesVideoGemmaForQA`] (library of ``bytevid finetune-qa`` and
``bytevid evaluate-qa``).

Data: a CSV or JSON Lines manifest with columns ``video`` (or ``path``: a file path, absolute or relative to the
manifest's folder), ``question``, ``answer`` and optionally ``choices`` (a list in JSONL, ``|``-separated in CSV; empty
= open-ended), or a ``datasets`` dataset holding the same columns — saved with ``save_to_disk``, a
``scripts/prepare_data.py`` output, a local Parquet folder or a Hub dataset (``--dataset_name``; ``video`` may then be a
``Video`` feature, read as the encoded file, or the encoded bytes).

Model: a saved QA checkpoint (``--model_name_or_path``) or two pre-trained parts, a bytevid checkpoint
(``--video_encoder``) and a Gemma causal LM with its tokenizer (``--language_model``). Everything trains by default
(learning rate 1e-5); ``--freeze_lm`` trains only the video side (encoder, pooling, projector), ``--lora_r R`` puts
LoRA adapters (peft) on the language model's attention projections and trains them with the video side.

Long videos: ``--video_chunk_size N`` (``config.video_chunk_size``) makes the encoder read each video N bytes at a
time with its state carried between chunks — the video tokens, loss and gradients of one pass over the whole video,
the encoder's activation memory of one chunk (each chunk activation-checkpointed in training) — and stops truncating
videos unless ``--max_video_bytes`` is given (:func:`configure_video_length`). ``--video_chunk_backprop truncated``
detaches the state between chunks instead (truncated BPTT, the paper's sub-sequence training).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import torch

from .arguments import (  # the dataclasses and defaults live where `bytevid ... --help` reads them without torch
    DEFAULT_LORA_TARGETS,
    DEFAULT_QA_LEARNING_RATE,
    QADataArguments,
    QAEvaluationArguments,
    QAModelArguments,
)

QA_FEATURES = datasets.Features(
    {
        "video": datasets.Value("string"),
        "question": datasets.Value("string"),
        "answer": datasets.Value("string"),
        "choices": datasets.Sequence(datasets.Value("string")),
    }
)


# ---------------------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------------------
def load_qa_manifest(manifest: str | os.PathLike) -> datasets.Dataset:
    """Read a CSV/JSONL QA manifest into a dataset with columns ``video`` (absolute path), ``question``, ``answer``
    (``None`` when missing) and ``choices`` (``None`` for open-ended questions). Errors name the file and line."""
    from ..data.sources import _manifest_rows

    manifest = Path(manifest)
    if not manifest.is_file():
        raise FileNotFoundError(f"QA manifest {str(manifest)!r} does not exist or is not a file")
    rows, columns = _manifest_rows(manifest)
    video_key = "video" if "video" in columns else "path" if "path" in columns else None
    if video_key is None or "question" not in columns:
        raise ValueError(f"QA manifest {str(manifest)!r} needs the columns video (or path) and question "
                         f"(+ answer[, choices]); columns: {columns}")
    if not rows:
        raise ValueError(f"QA manifest {str(manifest)!r} has no rows")
    root = manifest.parent.resolve()
    records = []
    for row in rows:
        where = f"QA manifest {str(manifest)!r} line {row['__line__']}"
        video, question = row.get(video_key), row.get("question")
        if video is None or not str(video).strip():
            raise ValueError(f"{where}: empty {video_key!r}")
        if question is None or not str(question).strip():
            raise ValueError(f"{where}: empty 'question'")
        path = Path(str(video).strip())
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            raise FileNotFoundError(f"{where}: video {str(path)!r} does not exist")
        choices = row.get("choices")
        if choices in (None, "", []):
            choices = None
        elif isinstance(choices, str):
            choices = [c.strip() for c in choices.split("|")]
        elif isinstance(choices, list):
            choices = [str(c) for c in choices]
        else:
            raise ValueError(f"{where}: choices must be a list or a '|'-separated string, got {choices!r}")
        answer = row.get("answer")
        records.append({
            "video": str(path),
            "question": str(question),
            "answer": None if answer is None or answer == "" else str(answer),
            "choices": choices,
        })
    return datasets.Dataset.from_list(records, features=QA_FEATURES)


def load_qa_data(path: str | os.PathLike | None = None, split: str | None = None, *, dataset_name: str | None = None,
                 dataset_config: str | None = None, data_dir: str | None = None,
                 revision: str | None = None) -> datasets.Dataset:
    """A QA dataset from a manifest file (``.csv``/``.jsonl``), a local dataset folder (``save_to_disk``, a
    ``scripts/prepare_data.py`` output, Parquet ...) or a ``load_dataset`` name (``dataset_name``: a Hub dataset id,
    with ``dataset_config``, ``data_dir``, ``revision``); ``split`` of several (default ``"train"``). ``Video``
    columns are read as the encoded file (``Video(decode=False)``)."""
    from ..data.loading import load_video_dataset

    if (path is None) == (dataset_name is None):
        raise ValueError("pass exactly one of a manifest / local dataset path or dataset_name")
    if path is not None and not Path(path).is_dir():
        return load_qa_manifest(path)
    source = str(path if path is not None else dataset_name)
    data = load_video_dataset(source, config=dataset_config, data_dir=data_dir, revision=revision) \
        if dataset_name is not None else load_video_dataset(source)
    if isinstance(data, datasets.DatasetDict):
        split = split or "train"
        if split not in data:
            raise ValueError(f"dataset {source!r} has no split {split!r}; splits: {list(data)}")
        data = data[split]
    missing = [c for c in ("video", "question") if c not in data.column_names]
    if missing:
        raise ValueError(f"dataset {source!r} has no column(s) {missing}; columns: {data.column_names}")
    return data


@dataclass
class BytesVideoQACollator:
    """Batch QA rows for [`BytesVideoGemmaForQA`] with a [`BytesVideoQAProcessor`].

    Rows hold a video (path, bytes, ...), a question, optionally choices and (when ``with_answers``) an answer.
    Returns ``input_ids``, ``attention_mask``, ``video_input_ids``, ``video_attention_mask`` and, with answers,
    ``labels`` (right-padded); without answers the prompts are left-padded for ``generate``.
    """

    processor: Any
    with_answers: bool = True
    video_column: str = "video"
    question_column: str = "question"
    answer_column: str = "answer"
    choices_column: str = "choices"
    use_chat_template: bool = True
    processor_kwargs: dict = field(default_factory=dict)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        for key in (self.video_column, self.question_column) + ((self.answer_column,) if self.with_answers else ()):
            missing = [i for i, row in enumerate(rows) if row.get(key) is None]
            if missing:
                raise KeyError(f"rows {missing} have no {key!r} value (keys: {sorted(rows[missing[0]])}); with "
                               "Trainer, set remove_unused_columns=False so the raw columns reach the collator")
        choices = [row.get(self.choices_column) or None for row in rows]
        batch = self.processor(
            [row[self.video_column] for row in rows],
            [row[self.question_column] for row in rows],
            choices=choices,
            answers=[row[self.answer_column] for row in rows] if self.with_answers else None,
            use_chat_template=self.use_chat_template,
            **self.processor_kwargs,
        )
        return dict(batch)


# ---------------------------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------------------------
def _load_tokenizer(path: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"no tokenizer could be loaded from {path!r} ({e}); pass --tokenizer_name") from e


def build_qa_model_and_processor(model_args: QAModelArguments):
    """Load or assemble the model and its processor; returns ``(model, processor)`` (no freezing/LoRA yet)."""
    from ..modeling.modeling_qa import BytesVideoGemmaForQA
    from ..processing import BytesVideoProcessor
    from ..processing.processing_qa import BytesVideoQAProcessor, add_video_token

    if model_args.model_name_or_path:
        if model_args.video_encoder or model_args.language_model:
            raise ValueError("pass either --model_name_or_path or --video_encoder + --language_model, not both")
        model = BytesVideoGemmaForQA.from_pretrained(model_args.model_name_or_path)
        try:
            processor = BytesVideoQAProcessor.from_pretrained(model_args.model_name_or_path)
        except (OSError, ValueError, TypeError):
            tokenizer = _load_tokenizer(model_args.tokenizer_name or model_args.model_name_or_path)
            processor = BytesVideoQAProcessor.for_model(model.config, BytesVideoProcessor(), tokenizer)
        return model, processor
    if not (model_args.video_encoder and model_args.language_model):
        raise ValueError("pass --model_name_or_path, or both --video_encoder and --language_model")
    tokenizer = _load_tokenizer(model_args.tokenizer_name or model_args.language_model)
    video_token_id = add_video_token(tokenizer, "<video>")
    model = BytesVideoGemmaForQA.from_pretrained_parts(
        model_args.video_encoder,
        model_args.language_model,
        video_token_id=video_token_id,
        num_video_tokens=model_args.num_video_tokens,
        projector_hidden_act=model_args.projector_hidden_act,
    )
    try:
        video_processor = BytesVideoProcessor.from_pretrained(model_args.video_encoder)
    except (OSError, ValueError):
        video_processor = BytesVideoProcessor()
    return model, BytesVideoQAProcessor.for_model(model.config, video_processor, tokenizer)


def video_side_modules(model) -> list[str]:
    """Names of the video-side sub-modules (encoder, pooling, projector) that exist in ``model``."""
    return [name for name in ("bytevid", "video_pooling", "projector") if getattr(model, name, None) is not None]


def apply_lora(
    model,
    r: int,
    alpha: int | None = None,
    dropout: float = 0.05,
    target_modules: str | list[str] = DEFAULT_LORA_TARGETS,
    train_video_side: bool | list[str] = True,
):
    """Wrap ``model`` with peft LoRA adapters on the language model's attention projections.

    Only modules under ``language_model`` are adapted. ``train_video_side`` keeps the video encoder, pooling and
    projector fully trainable (peft ``modules_to_save``, so they are saved with the adapter); a list names which of
    them. Returns the ``PeftModel``; ``save_pretrained`` writes the adapter (+ those modules),
    ``merge_and_unload()`` gives back a plain ``BytesVideoGemmaForQA``.
    """
    from peft import LoraConfig, get_peft_model

    if r < 1:
        raise ValueError(f"LoRA rank must be >= 1, got {r}")
    names = [t.strip() for t in target_modules.split(",")] if isinstance(target_modules, str) else list(target_modules)
    names = [n for n in names if n]
    if not names:
        raise ValueError("lora target_modules is empty")
    pattern = r"language_model\..*\.(" + "|".join(map(re.escape, names)) + r")"
    if train_video_side is True:
        modules_to_save = video_side_modules(model)
    elif train_video_side:
        modules_to_save = list(train_video_side)
    else:
        modules_to_save = None
    config = LoraConfig(
        r=r,
        lora_alpha=alpha if alpha is not None else 2 * r,
        lora_dropout=dropout,
        target_modules=pattern,
        modules_to_save=modules_to_save or None,
        bias="none",
    )
    return get_peft_model(model, config)


def prepare_for_training(model, model_args: QAModelArguments):
    """Apply ``--freeze_lm`` / ``--freeze_video_encoder`` / ``--lora_r``; returns the model to train."""
    if model_args.freeze_lm and model_args.lora_r:
        raise ValueError("--freeze_lm and --lora_r contradict each other: LoRA trains adapters on the language model")
    if model_args.lora_r < 0:
        raise ValueError(f"--lora_r must be >= 0, got {model_args.lora_r}")
    if model_args.freeze_lm:
        model.language_model.requires_grad_(False)
    if model_args.freeze_video_encoder:
        model.bytevid.requires_grad_(False)
    if model_args.lora_r:
        video_side = [n for n in video_side_modules(model) if not (n == "bytevid" and model_args.freeze_video_encoder)]
        model = apply_lora(model, model_args.lora_r, model_args.lora_alpha, model_args.lora_dropout,
                           model_args.lora_target_modules, train_video_side=video_side or False)
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("nothing left to train: every parameter is frozen")
    return model


def configure_video_length(model, processor, max_video_bytes: int | None = None,
                           video_chunk_size: int | None = None, video_chunk_backprop: str | None = None) -> None:
    """Set how much of each video the model reads (``bytevid finetune-qa`` / ``evaluate-qa``).

    ``video_chunk_size`` (``None``: keep ``model.config.video_chunk_size``; ``0``: one pass) sets the model's
    long-video mode (see :meth:`BytesVideoGemmaForQA.encode_video`) and ``video_chunk_backprop`` (``None``: keep the
    model's) how its gradients cross the chunks. ``max_video_bytes`` truncates every video to
    that many bytes. Without it, long-video mode removes the video processor's ``max_length`` (which a processor
    loaded from a checkpoint may carry, e.g. a classifier's training window), so whole videos are read; otherwise the
    processor is left as it is (today's behaviour).
    """
    from transformers.utils import logging

    config = getattr(model, "config", model)
    if video_chunk_size is not None:
        if isinstance(video_chunk_size, bool) or not isinstance(video_chunk_size, int) or video_chunk_size < 0:
            raise ValueError(f"--video_chunk_size must be a number of bytes >= 1 (0 = one pass), got "
                             f"{video_chunk_size!r}")
        config.video_chunk_size = video_chunk_size or None
    if video_chunk_backprop is not None:
        from ..modeling.configuration_qa import VIDEO_CHUNK_BACKPROP

        if video_chunk_backprop not in VIDEO_CHUNK_BACKPROP:
            raise ValueError(f"--video_chunk_backprop must be one of {list(VIDEO_CHUNK_BACKPROP)}, got "
                             f"{video_chunk_backprop!r}")
        config.video_chunk_backprop = video_chunk_backprop
    video_processor = processor.video_processor
    if max_video_bytes is not None:
        video_processor.max_length = max_video_bytes
        video_processor.truncation = True
    elif config.video_chunk_size and video_processor.max_length is not None:
        logging.get_logger(__name__).info(
            f"long-video mode (video_chunk_size={config.video_chunk_size}): videos are read whole instead of being "
            f"truncated to the video processor's max_length={video_processor.max_length} (set --max_video_bytes to "
            "truncate)"
        )
        video_processor.max_length = None


# ---------------------------------------------------------------------------------------------------------------------
# Fine-tuning
# ---------------------------------------------------------------------------------------------------------------------
def run_qa_finetuning(model_args: QAModelArguments, data_args: QADataArguments, training_args, callbacks=None):
    """Fine-tune with ``transformers.Trainer`` and save model + processor to ``training_args.output_dir``.

    With LoRA the adapter (and the trained video side) is saved to ``<output_dir>/lora_adapter`` and the merged model
    to ``output_dir``, so the output loads with ``BytesVideoGemmaForQA.from_pretrained`` either way.
    Returns the ``TrainOutput``.
    """
    from ..hub import auto_classes_for, push_checkpoint, registered_for_auto_classes
    from .finetune import data_description, finish_training
    from .trainer import BytesVideoTrainer

    if bool(data_args.train_file) == bool(data_args.dataset_name):
        raise ValueError("pass --train_file (a CSV/JSONL manifest or a local dataset) or --dataset_name (a "
                         "load_dataset name, e.g. a Hub dataset id)")
    model, processor = build_qa_model_and_processor(model_args)
    configure_video_length(model, processor, data_args.max_video_bytes, model_args.video_chunk_size,
                           model_args.video_chunk_backprop)
    if data_args.transcode:
        processor.video_processor.transcode = True
    model = prepare_for_training(model, model_args)

    hub = {"dataset_name": data_args.dataset_name, "dataset_config": data_args.dataset_config,
           "data_dir": data_args.data_dir, "revision": data_args.dataset_revision}
    if data_args.train_file:
        train = load_qa_data(data_args.train_file, data_args.train_split)
    else:
        train = load_qa_data(split=data_args.train_split, **hub)
    if data_args.eval_file:
        evaluation = load_qa_data(data_args.eval_file, data_args.eval_split)
    elif data_args.dataset_name and data_args.eval_split:
        evaluation = load_qa_data(split=data_args.eval_split, **hub)
    else:
        evaluation = None
    for name, data in (("train", train), ("eval", evaluation)):
        if data is not None and any(answer is None for answer in data["answer"]):
            raise ValueError(f"the {name} data has rows without an answer; every training question needs one")
    training_args.remove_unused_columns = False  # the collator needs the raw columns
    card_kwargs = {**data_description(data_args), "base_model": model_args.language_model
                   if model_args.language_model and not os.path.isdir(model_args.language_model) else None}
    trainer = BytesVideoTrainer(
        model=model,
        args=training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        data_collator=BytesVideoQACollator(processor, use_chat_template=data_args.use_chat_template),
        processing_class=processor,
        callbacks=list(callbacks or []),
        card_kwargs=card_kwargs,
    )
    result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    if evaluation is not None:
        metrics = trainer.evaluate()
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)
    trainer.save_state()
    output_dir = training_args.output_dir
    if not model_args.lora_r:
        finish_training(trainer)  # model, processor, code and card (pushed with --push_to_hub)
        return result
    # LoRA: the adapter (+ the trained video side) and, in output_dir, the merged model with processor, code and card
    if trainer.is_world_process_zero():
        trainer.model.save_pretrained(os.path.join(output_dir, "lora_adapter"))
        merged = trainer.model.merge_and_unload()
        with registered_for_auto_classes(auto_classes_for(merged, processor)):
            merged.save_pretrained(output_dir)
            processor.save_pretrained(output_dir)
        from ..hub import write_checkpoint_card

        write_checkpoint_card(output_dir, merged, trainer.last_eval_metrics(), repo_id=trainer.card_repo_id(),
                              **{k: v for k, v in card_kwargs.items() if v is not None})
        if training_args.push_to_hub:  # the merged model, converted to a clean folder (no pickles) and pushed
            push_checkpoint(output_dir, trainer.hub_model_id, private=training_args.hub_private_repo,
                            revision=training_args.hub_revision, token=training_args.hub_token,
                            commit_message="End of training", **card_kwargs)
    return result


def finetune_main(argv=None):
    """``bytevid finetune-qa`` (``scripts/finetune_qa.py``): :func:`bytevid_hf.cli.finetune_qa.main`."""
    from ..cli.finetune_qa import main

    return main(argv)


# ---------------------------------------------------------------------------------------------------------------------
# Evaluation: generate answers, compute metrics
# ---------------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def generate_answers(
    model, processor, data, batch_size: int = 8, max_new_tokens: int = 16, num_beams: int = 1,
    use_chat_template: bool = True, device=None,
) -> list[str]:
    """Greedy (or beam) answers for every row of ``data`` (dicts or a dataset with video/question[/choices])."""
    if isinstance(model, torch.nn.Module):
        model.eval()
    device = device if device is not None else model.device
    collator = BytesVideoQACollator(processor, with_answers=False, use_chat_template=use_chat_template)
    rows = [data[i] for i in range(len(data))]
    answers: list[str] = []
    for start in range(0, len(rows), batch_size):
        batch = collator(rows[start : start + batch_size])
        batch = {k: v.to(device) for k, v in batch.items()}
        generated = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            num_beams=num_beams,
            do_sample=False,
            pad_token_id=processor.tokenizer.pad_token_id,
            eos_token_id=processor.answer_end_token_id,
        )
        answers.extend(processor.decode_answers(generated, batch["input_ids"].shape[1]))
    return answers


def run_qa_evaluation(args: QAEvaluationArguments) -> dict[str, float]:
    """Generate answers for ``args.eval_file`` and score them (exact match for open-ended questions,
    multiple-choice accuracy for questions with choices); writes ``predictions.jsonl`` / ``metrics.json`` to
    ``args.output_dir`` when set. Returns the metrics."""
    from ..modeling.modeling_qa import BytesVideoGemmaForQA
    from ..processing.processing_qa import BytesVideoQAProcessor
    from .qa_metrics import compute_qa_metrics

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = BytesVideoGemmaForQA.from_pretrained(args.model_name_or_path).to(device)
    processor = BytesVideoQAProcessor.from_pretrained(args.model_name_or_path)
    configure_video_length(model, processor, args.max_video_bytes, args.video_chunk_size)
    data = load_qa_data(args.eval_file, split=args.split)
    if args.limit is not None:
        data = data.select(range(min(args.limit, len(data))))
    if any(answer is None for answer in data["answer"]):
        raise ValueError("every evaluation question needs a reference answer")
    predictions = generate_answers(model, processor, data, batch_size=args.batch_size,
                                   max_new_tokens=args.max_new_tokens, num_beams=args.num_beams,
                                   use_chat_template=args.use_chat_template, device=device)
    choices = [c or None for c in data["choices"]] if "choices" in data.column_names else None
    metrics = compute_qa_metrics(predictions, data["answer"], choices)
    if args.output_dir:
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "predictions.jsonl", "w", encoding="utf-8") as f:
            for i, prediction in enumerate(predictions):
                row = {"question": data[i]["question"], "answer": data[i]["answer"], "prediction": prediction}
                if choices is not None:
                    row["choices"] = choices[i]
                if isinstance(data[i]["video"], str):
                    row["video"] = data[i]["video"]
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def evaluate_main(argv=None) -> dict[str, float]:
    """``bytevid evaluate-qa`` (``scripts/evaluate_qa.py``): :func:`bytevid_hf.cli.evaluate_qa.main`; prints the
    metrics as JSON and returns them."""
    from ..cli.evaluate_qa import main

    return main(argv)


__all__ = [
    "BytesVideoQACollator",
    "DEFAULT_LORA_TARGETS",
    "DEFAULT_QA_LEARNING_RATE",
    "QADataArguments",
    "QAEvaluationArguments",
    "QAModelArguments",
    "apply_lora",
    "build_qa_model_and_processor",
    "configure_video_length",
    "evaluate_main",
    "finetune_main",
    "generate_answers",
    "load_qa_data",
    "load_qa_manifest",
    "prepare_for_training",
    "run_qa_evaluation",
    "run_qa_finetuning",
    "video_side_modules",
]
