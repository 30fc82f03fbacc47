"""Training callbacks for transformers.Trainer."""

from __future__ import annotations

import time

from transformers import TrainerCallback


class TimeBudgetCallback(TrainerCallback):
    """Stop training once ``minutes`` of wall-clock training time have passed (checked after every step).

    The Trainer then finishes normally (final evaluation, saving), so a run fits a fixed compute budget whatever
    the hardware.
    """

    def __init__(self, minutes: float):
        if minutes <= 0:
            raise ValueError(f"TimeBudgetCallback: minutes must be > 0, got {minutes}")
        self.seconds = minutes * 60.0
        self.start: float | None = None
        self.stopped_at_step: int | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if self.start is not None and time.monotonic() - self.start >= self.seconds:
            control.should_training_stop = True
            self.stopped_at_step = state.global_step
        return control


__all__ = ["TimeBudgetCallback"]
