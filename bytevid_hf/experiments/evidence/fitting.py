"""One training loop for every learned model of the suite: ``transformers.Trainer`` stopped by CPU time.

Byte and pixel models get the same loop: AdamW, constant learning rate after a short warm-up (the schedule does not
depend on a step count, so stopping early is not a different schedule), batch ``batch_size``, no evaluation or
saving during training, ``dataloader_num_workers=0`` (batching is inside the measured CPU time), stopped by
:class:`~bytevid_hf.training.callbacks.CPUTimeBudgetCallback`. Held-out accuracy is computed afterwards
(:func:`accuracy`), for the final weights and every snapshot of :class:`.budget.SnapshotCallback`.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import time
from typing import Any

import torch

from .budget import SnapshotCallback, curve_marks

__all__ = ["fit_for_cpu_time", "accuracy", "quiet_transformers"]


@contextlib.contextmanager
def quiet_transformers():
    """transformers' warnings and load reports off, and Trainer's printed summaries swallowed, inside the block
    (the suite prints one line per run instead)."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.set_verbosity(level)


def fit_for_cpu_time(model: torch.nn.Module, train_rows: list, collator: Any, seconds: float, *, learning_rate: float,
                     seed: int, batch_size: int = 8, warmup_steps: int = 50, curve_points: int = 0,
                     weight_decay: float = 0.01) -> dict[str, Any]:
    """Train ``model`` on ``train_rows`` until this process has spent ``seconds`` of CPU time in training.

    Returns ``steps``, ``cpu_seconds`` (training, as the budget callback measured it), ``wall_seconds``,
    ``examples_seen`` and ``snapshots`` (``[(cpu_seconds, step, state_dict)]`` at :func:`.budget.curve_marks`).
    """
    from transformers import Trainer, TrainingArguments

    from ...training.callbacks import CPUTimeBudgetCallback

    budget = CPUTimeBudgetCallback(seconds)
    snapshots = SnapshotCallback(curve_marks(seconds, curve_points)[:-1] if curve_points > 1 else [])
    with tempfile.TemporaryDirectory(prefix="evidence-") as tmp:
        args = TrainingArguments(
            output_dir=tmp,
            per_device_train_batch_size=batch_size,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            warmup_steps=warmup_steps,
            lr_scheduler_type="constant_with_warmup",
            max_steps=10**9,
            eval_strategy="no",
            save_strategy="no",
            logging_strategy="no",
            report_to=[],
            seed=seed,
            data_seed=seed,
            use_cpu=True,
            dataloader_num_workers=0,
            remove_unused_columns=False,
            disable_tqdm=True,
        )
        trainer = Trainer(model=model, args=args, train_dataset=train_rows, data_collator=collator,
                          callbacks=[budget, snapshots])
        wall = time.perf_counter()
        with quiet_transformers():
            trainer.train()
        wall = time.perf_counter() - wall
    model.eval()
    return {"steps": budget.steps, "cpu_seconds": budget.cpu_seconds, "wall_seconds": wall,
            "examples_seen": budget.steps * batch_size, "snapshots": snapshots.snapshots}


@torch.no_grad()
def accuracy(model: torch.nn.Module, rows: list, collator: Any, batch_size: int = 32) -> float:
    """Held-out accuracy of ``model`` (argmax of ``logits``) on ``rows`` batched by ``collator``."""
    model.eval()
    correct = 0
    for i in range(0, len(rows), batch_size):
        batch = collator(rows[i : i + batch_size])
        labels = batch.pop("labels")
        logits = model(**batch).logits
        correct += int((logits.argmax(-1) == labels).sum())
    return correct / max(1, len(rows))
