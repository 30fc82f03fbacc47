"""The pixel baseline: a small ``VideoMAEForVideoClassification`` trained from scratch on decoded frames.

Frames come from the package's own decoding, :func:`bytevid_hf.processing.sample_frames` (PyAV decode, shorter side
resized to ``size`` and centre-cropped, ``num_frames`` evenly spaced frames); the clips are square and already
``size`` pixels, so nothing is resized and every frame is kept when the clip has ``num_frames`` frames (the scene-cut
clips, 40-60 frames, are sampled to 16). Every clip is decoded once before training, as a pixel pipeline would
cache frames; that decode time is reported (``decode_cpu_seconds``) but not charged to the training budget, which
favours the pixel model.

The default configuration is tiny (hidden 64, 4 layers, 4 heads, 8x8 patches, tubelets of 2 frames: 512 tokens for
16 frames of 64 x 64) so that it takes about as many optimizer steps per CPU second as ``bytes-micro``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from .fitting import accuracy, fit_for_cpu_time

__all__ = ["PixelCollator", "decode_rows", "pixel_config", "train_pixel_model"]

MEAN, STD = 0.45, 0.225


def pixel_config(num_labels: int, num_frames: int, size: int, *, hidden_size: int = 64, layers: int = 4,
                 heads: int = 4, patch_size: int = 8, tubelet_size: int = 2):
    """The ``VideoMAEConfig`` of the pixel baseline."""
    from transformers import VideoMAEConfig

    return VideoMAEConfig(image_size=size, patch_size=patch_size, num_channels=3, num_frames=num_frames,
                          tubelet_size=tubelet_size, hidden_size=hidden_size, num_hidden_layers=layers,
                          num_attention_heads=heads, intermediate_size=2 * hidden_size, num_labels=num_labels,
                          use_mean_pooling=True)


def pixel_frames(task: Any) -> tuple[int, int]:
    """``(num_frames, size)`` the pixel model reads for ``task``: all frames (even count), at most 16."""
    frames = min(int(getattr(task, "num_frames", 16)), 16)
    return frames - frames % 2, int(getattr(task, "size", 64))


def decode_rows(rows: list, num_frames: int, size: int) -> list[dict[str, Any]]:
    """``[{"frames": uint8 (T, 3, S, S), "label": int}]`` decoded with :func:`bytevid_hf.processing.sample_frames`."""
    from ...processing import sample_frames

    out = []
    for row in rows:
        frames = sample_frames(row["video"], num_frames=num_frames, size=size)
        out.append({"frames": (frames * 255.0 + 0.5).to(torch.uint8), "label": int(row["label"])})
    return out


@dataclass
class PixelCollator:
    """Decoded rows -> ``pixel_values`` (float (B, T, 3, S, S), normalised) and ``labels``."""

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        frames = torch.stack([r["frames"] for r in rows]).float().div_(255.0)
        return {"pixel_values": (frames - MEAN) / STD,
                "labels": torch.tensor([r["label"] for r in rows], dtype=torch.long)}


def train_pixel_model(task: Any, train_rows: list, eval_rows: list, seconds: float, *, seed: int,
                      batch_size: int = 8, learning_rate: float = 1e-3, curve_points: int = 0,
                      **config_kwargs: Any) -> dict[str, Any]:
    """Decode, then train the pixel model for ``seconds`` of CPU time; same keys as the byte models' results."""
    from transformers import VideoMAEForVideoClassification

    num_frames, size = pixel_frames(task)
    start = time.process_time()
    train = decode_rows(train_rows, num_frames, size)
    evaluation = decode_rows(eval_rows, num_frames, size)
    decode_cpu = time.process_time() - start
    torch.manual_seed(seed)
    model = VideoMAEForVideoClassification(pixel_config(task.num_classes, num_frames, size, **config_kwargs))
    collator = PixelCollator()
    fit = fit_for_cpu_time(model, train, collator, seconds, learning_rate=learning_rate, seed=seed,
                           batch_size=batch_size, curve_points=curve_points)
    per_clip = num_frames * 3 * size * size
    result = {
        "accuracy": accuracy(model, evaluation, collator),
        "cpu_seconds": fit["cpu_seconds"],
        "finetune_cpu_seconds": fit["cpu_seconds"],
        "pretrain_cpu_seconds": 0.0,
        "decode_cpu_seconds": decode_cpu,
        "decoded_clips": len(train) + len(evaluation),
        "wall_seconds": fit["wall_seconds"],
        "steps": fit["steps"],
        "input_per_clip": float(per_clip),
        "input_unit": "pixel values (uint8 RGB)",
        "input_read": float(per_clip * fit["examples_seen"]),
        "examples_seen": fit["examples_seen"],
        "parameters": sum(p.numel() for p in model.parameters()),
        "frames": num_frames,
        "size": size,
    }
    curve = []
    if fit["snapshots"]:
        final = {k: v.clone() for k, v in model.state_dict().items()}
        for cpu, step, state in fit["snapshots"]:
            model.load_state_dict(state)
            curve.append([cpu, step, accuracy(model, evaluation, collator)])
        model.load_state_dict(final)
    curve.append([result["cpu_seconds"], fit["steps"], result["accuracy"]])
    result["curve"] = curve
    return result
