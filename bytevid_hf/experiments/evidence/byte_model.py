"""The byte models of the suite: ``BytesVideoForClassification`` from scratch, or after the package's pre-training.

* ``bytes``: a fresh model of ``preset`` (default ``bytes-micro``) fine-tuned on the clips' encoded bytes
  (:class:`~bytevid_hf.training.finetune.BytesVideoCollator`, a plain :class:`~bytevid_hf.processing.BytesVideoProcessor`:
  the mp4 file as it is, right-padded) for the whole CPU budget.
* ``bytes_pt_rgb`` / ``bytes_pt_next``: :func:`~bytevid_hf.training.pretraining.run_pretraining` (objective ``rgb``:
  reconstruct the decoded frames, ``reconstruction_size`` = the clip size, or ``next-byte``) on unlabelled clips of the
  training side of the same task, stopped after ``pretrain_fraction`` of the budget; the checkpoint's backbone then
  loads into ``BytesVideoForClassification`` (``from_pretrained``, new head) and is fine-tuned for what is left. The
  CPU time of the whole pre-training call (set-up, training, saving) is counted against the budget.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from .fitting import accuracy, fit_for_cpu_time, quiet_transformers

__all__ = ["BYTE_MODELS", "train_byte_model", "pretrain_checkpoint"]

#: Model name -> pre-training objective (None: from scratch).
BYTE_MODELS = {"bytes": None, "bytes_pt_rgb": "rgb", "bytes_pt_next": "next-byte"}


def _collator():
    from ...processing import BytesVideoProcessor
    from ...training.finetune import BytesVideoCollator

    return BytesVideoCollator(BytesVideoProcessor())


def pretrain_checkpoint(objective: str, rows: list, seconds: float, out_dir: str | Path, *, seed: int,
                        preset: str = "bytes-micro", batch_size: int = 8, clip_size: int = 64,
                        clip_frames: int = 16) -> dict[str, Any]:
    """Pre-train a fresh ``preset`` model with :func:`~bytevid_hf.training.pretraining.run_pretraining` on the
    videos of ``rows`` (labels unused) for ``seconds`` of CPU time; the checkpoint goes to ``out_dir``."""
    from transformers import TrainingArguments

    from ...training.callbacks import CPUTimeBudgetCallback
    from ...training.pretraining import PretrainingArguments, default_learning_rate, run_pretraining

    out_dir = Path(out_dir)
    videos = out_dir / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    for i, row in enumerate(rows):
        (videos / f"{i:05d}.mp4").write_bytes(row["video"])
    overrides = None
    if objective == "rgb":
        frames = min(int(clip_frames), 8)
        overrides = json.dumps({"reconstruction_size": int(clip_size), "reconstruction_frames": frames,
                                "reconstruction_tokens": [min(4, frames), 8, 8]})
    args = PretrainingArguments(objective=objective, preset=preset, data_dir=str(videos), max_length=None,
                                config_overrides=overrides)
    training_args = TrainingArguments(
        output_dir=str(out_dir / "checkpoint"), per_device_train_batch_size=batch_size,
        learning_rate=default_learning_rate(preset, "pretrain"), warmup_steps=50,
        lr_scheduler_type="constant_with_warmup", max_steps=10**9, save_strategy="no", logging_strategy="no",
        report_to=[], seed=seed, data_seed=seed, use_cpu=True, dataloader_num_workers=0, disable_tqdm=True,
    )
    budget = CPUTimeBudgetCallback(seconds)
    with quiet_transformers():
        result = run_pretraining(args, training_args, callbacks=[budget])
    return {"checkpoint": str(out_dir / "checkpoint"), "steps": int(result.global_step),
            "train_cpu_seconds": budget.cpu_seconds, "loss": float(result.training_loss)}


def train_byte_model(model_name: str, task: Any, train_rows: list, eval_rows: list, seconds: float, *, seed: int,
                     pretrain_rows: list | None = None, pretrain_fraction: float = 0.5, preset: str = "bytes-micro",
                     batch_size: int = 8, learning_rate: float = 2e-3, curve_points: int = 0) -> dict[str, Any]:
    """Train byte model ``model_name`` (:data:`BYTE_MODELS`) within ``seconds`` of CPU time in total; return its
    held-out accuracy, the CPU time of each phase, steps, bytes read and the curve points."""
    from ...modeling import BytesVideoForClassification
    from ...modeling.configuration_bytevid import BytesVideoConfig

    if model_name not in BYTE_MODELS:
        raise ValueError(f"unknown byte model {model_name!r}; available: {sorted(BYTE_MODELS)}")
    objective = BYTE_MODELS[model_name]
    labels = {"num_labels": task.num_classes, "id2label": task.id2label,
              "label2id": {v: k for k, v in task.id2label.items()}}
    info: dict[str, Any] = {"preset": preset, "pretrain_objective": objective}
    torch.manual_seed(seed)
    pretrain_cpu = 0.0
    with tempfile.TemporaryDirectory(prefix="evidence-pt-") as tmp:
        if objective is None:
            model = BytesVideoForClassification(BytesVideoConfig.from_preset(preset, **labels))
        else:
            if not pretrain_rows:
                raise ValueError(f"{model_name} needs unlabelled pre-training clips")
            start = time.process_time()
            wall = time.perf_counter()
            pre = pretrain_checkpoint(objective, pretrain_rows, seconds * pretrain_fraction, tmp, seed=seed,
                                      preset=preset, batch_size=batch_size,
                                      clip_size=getattr(task, "size", 64), clip_frames=getattr(task, "num_frames", 16))
            with quiet_transformers():
                model = BytesVideoForClassification.from_pretrained(pre["checkpoint"], **labels)
            pretrain_cpu = time.process_time() - start
            info.update(pretrain_steps=pre["steps"], pretrain_train_cpu_seconds=pre["train_cpu_seconds"],
                        pretrain_loss=pre["loss"], pretrain_clips=len(pretrain_rows),
                        pretrain_wall_seconds=time.perf_counter() - wall)
    remaining = max(1.0, seconds - pretrain_cpu)
    fit = fit_for_cpu_time(model, train_rows, _collator(), remaining, learning_rate=learning_rate, seed=seed,
                           batch_size=batch_size, curve_points=curve_points)
    collator = _collator()
    result = {
        **info,
        "accuracy": accuracy(model, eval_rows, collator),
        "pretrain_cpu_seconds": pretrain_cpu,
        "finetune_cpu_seconds": fit["cpu_seconds"],
        "cpu_seconds": pretrain_cpu + fit["cpu_seconds"],
        "wall_seconds": fit["wall_seconds"] + info.get("pretrain_wall_seconds", 0.0),
        "steps": fit["steps"],
        "input_per_clip": float(sum(len(r["video"]) for r in train_rows) / max(1, len(train_rows))),
        "input_unit": "bytes",
        "examples_seen": fit["examples_seen"],
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    result["input_read"] = result["input_per_clip"] * fit["examples_seen"]
    curve = []
    if fit["snapshots"]:
        final = {k: v.clone() for k, v in model.state_dict().items()}
        for cpu, step, state in fit["snapshots"]:
            model.load_state_dict(state)
            curve.append([pretrain_cpu + cpu, step, accuracy(model, eval_rows, collator)])
        model.load_state_dict(final)
    curve.append([result["cpu_seconds"], fit["steps"], result["accuracy"]])
    result["curve"] = curve
    return result
