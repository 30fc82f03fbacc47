"""Equal CPU time for every model, and the accuracy-vs-CPU-time curve without spending the budget on evaluation.

Training stops through the package's :class:`~bytevid_hf.training.callbacks.CPUTimeBudgetCallback` (this process's
``time.process_time()`` since training began, all threads, checked after every step; the data collation of
``dataloader_num_workers=0`` is inside it). :class:`SnapshotCallback` copies the weights when the spent CPU time
first passes each of a few marks (a copy of a few hundred thousand parameters, microseconds); the copies are
evaluated after training, so the curve costs no training time.
"""

from __future__ import annotations

import time

import torch
from transformers import TrainerCallback

__all__ = ["SnapshotCallback", "curve_marks"]


def curve_marks(seconds: float, points: int) -> list[float]:
    """``points`` CPU-time marks up to ``seconds``, doubling: ``seconds / 2**(points-1), ..., seconds / 2, seconds``
    (the last one is the end of training and is not snapshotted: the final model is evaluated anyway)."""
    if points < 1:
        return []
    return [seconds / 2 ** (points - 1 - k) for k in range(points)]


class SnapshotCallback(TrainerCallback):
    """Keep a CPU copy of the model's ``state_dict`` when the training CPU time first reaches each of ``marks``
    (seconds since ``on_train_begin``). ``snapshots``: list of ``(cpu_seconds, step, state_dict)``."""

    def __init__(self, marks: list[float]):
        self.marks = sorted(float(m) for m in marks)
        self.snapshots: list[tuple[float, int, dict[str, torch.Tensor]]] = []
        self.start: float | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.process_time()

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.start is None or model is None or len(self.snapshots) >= len(self.marks):
            return control
        spent = time.process_time() - self.start
        if spent >= self.marks[len(self.snapshots)]:
            copy = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            self.snapshots.append((spent, state.global_step, copy))
            while len(self.snapshots) < len(self.marks) and spent >= self.marks[len(self.snapshots)]:
                self.snapshots.append((spent, state.global_step, copy))  # several marks passed in one step
        return control
