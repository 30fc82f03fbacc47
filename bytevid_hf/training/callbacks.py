"""Training callbacks for transformers.Trainer."""

from __future__ import annotations

import time

from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState


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


class CPUTimeBudgetCallback(TrainerCallback):
    """Stop training once this process has used ``seconds`` of CPU time (``time.process_time()``, all threads) since
    training began, checked after every step.

    Unlike a wall-clock budget this is robust to other processes sharing the cores, so runs on a busy machine get the
    same compute. ``steps`` and ``cpu_seconds`` record where training stopped.
    """

    def __init__(self, seconds: float):
        if not seconds > 0:
            raise ValueError(f"CPUTimeBudgetCallback: seconds must be > 0, got {seconds}")
        self.seconds = float(seconds)
        self.start: float | None = None
        self.steps = 0
        self.cpu_seconds = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.process_time()

    def on_step_end(self, args, state, control, **kwargs):
        self.steps = state.global_step
        self.cpu_seconds = time.process_time() - self.start
        if self.cpu_seconds >= self.seconds:
            control.should_training_stop = True
        return control




class SequenceParallelCallback(TrainerCallback, ExportableState):
    """Sequence parallelism under ``Trainer``: makes the model sequence-parallel when training starts, and logs what
    the ranks exchange.

    * With ``sequence_parallel=True`` (or ``None`` = whenever torch.distributed runs more than one process) the model
      becomes sequence-parallel over ``process_group`` (default: the Trainer's world) at ``on_train_begin``, and back
      at ``on_train_end``; DDP's gradient averaging then yields the single-process gradient. Every rank must see the
      same batch: build the dataset with ``SubsequenceDataset(replicas=world_size)`` (which also cuts long videos into
      pieces for :class:`~bytevid_hf.training.subsequence.SubsequenceTrainer`'s state carry).
    * It adds ``sp_boundary_state_rms`` (the SSM state entering a rank's shard, from the ranks before it) and
      ``sp_local_state_rms`` (a shard's own state from zero), means over the blocks since the last log, to the logs.

    A single process where several were meant fails at ``on_train_begin`` with the launch command that works:
    ``sequence_parallel=True`` without torch.distributed, or ``accelerate launch --num_processes N`` without
    ``--multi_gpu`` (which runs the script once, on CPU in particular; see :mod:`bytevid_hf.parallel.launch`).

    ``timeout`` (seconds) bounds every collective of the sequence-parallel group: when another rank hangs, this rank
    raises ``SequenceParallelError`` after that long instead of waiting for the group's default (30 minutes for gloo
    unless ``TrainingArguments.ddp_timeout`` says otherwise). A rank that dies or raises is noticed at once.

    Resuming (``trainer.train(resume_from_checkpoint=...)``): the statistics gathered since the last log are pending
    at a checkpoint; the callback is an ``ExportableState``, so with ``restore_callback_states_from_checkpoint=True``
    they (and ``sequence_parallel``, ``timeout``) come back from the checkpoint and the resumed run logs what the
    uninterrupted one logs. A custom ``process_group`` cannot be saved: construct the callback with it again and leave
    ``restore_callback_states_from_checkpoint`` off.
    """

    def __init__(self, sequence_parallel: bool | None = None, process_group=None, timeout: float | None = None):
        if process_group == "custom":  # what state() records for a group it cannot save
            raise ValueError(
                "SequenceParallelCallback: this checkpoint was trained with a custom process_group, which cannot "
                "be restored from the checkpoint; set restore_callback_states_from_checkpoint=False and pass the "
                "callback built with that group"
            )
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
            raise ValueError(f"SequenceParallelCallback: timeout must be a positive number of seconds, got {timeout!r}")
        self.sequence_parallel = sequence_parallel
        self.process_group = process_group
        self.timeout = timeout
        self.context = None
        self.pending_correction_stats: list[list[float]] = []  # restored from a checkpoint, merged at train begin

    def state(self) -> dict:
        """What a checkpoint stores (``trainer_state.json`` → ``stateful_callbacks``)."""
        stats = self.context.correction_stats if self.context is not None else self.pending_correction_stats
        return {
            "args": {
                "sequence_parallel": self.sequence_parallel,
                "timeout": self.timeout,
                "process_group": None if self.process_group is None else "custom",
            },
            "attributes": {"pending_correction_stats": [list(pair) for pair in stats]},
        }

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        import torch.distributed as dist

        from ..parallel import enable_sequence_parallel, sequence_parallel_context

        if model is None:
            raise ValueError("SequenceParallelCallback needs the model (Trainer passes it to callbacks)")
        from ..parallel.launch import MULTI_PROCESS_LAUNCH, single_process_launch_problem

        distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size(self.process_group) > 1
        want = distributed if self.sequence_parallel is None else self.sequence_parallel
        if not distributed:
            # `accelerate launch --num_processes N` without --multi_gpu runs ONE process: fail instead of training alone
            problem = single_process_launch_problem(bool(want))
            if problem is not None:
                raise RuntimeError(f"SequenceParallelCallback: {problem}")
        if want:
            if not distributed:
                raise RuntimeError("SequenceParallelCallback(sequence_parallel=True) needs torch.distributed with "
                                   f"more than one process: {MULTI_PROCESS_LAUNCH.format(n='N')}")
            enable_sequence_parallel(model, self.process_group, timeout=self.timeout)
            self.context = sequence_parallel_context(model)
            self.context.record_stats = True
            self.context.correction_stats.extend(tuple(pair) for pair in self.pending_correction_stats)
            self.pending_correction_stats = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.context is None or logs is None or not self.context.correction_stats:
            return
        stats = self.context.correction_stats
        extra = {"sp_boundary_state_rms": sum(c for c, _ in stats) / len(stats),
                 "sp_local_state_rms": sum(o for _, o in stats) / len(stats)}
        logs.update(extra)  # printed / reported
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1].update(extra)  # Trainer copied `logs` into the history before the callbacks ran
        stats.clear()

    def on_train_end(self, args, state, control, model=None, **kwargs):
        from ..parallel import disable_sequence_parallel

        if model is not None and self.context is not None:
            disable_sequence_parallel(model)
            self.context = None


__all__ = ["CPUTimeBudgetCallback", "SequenceParallelCallback", "TimeBudgetCallback"]
