"""How this process was launched: several processes are needed for sequence parallelism, and ``accelerate launch``
can silently start only one.

``accelerate launch --num_processes N script.py`` starts N processes only with ``--multi_gpu`` (or a config whose
``distributed_type`` is a multi-device one): it then runs torchrun's launcher, which works on CPU too (the processes
use gloo). With ``--cpu``, or without ``--multi_gpu`` on a machine without GPUs, it runs the script ONCE, whatever
``--num_processes`` says (its multi-CPU mode needs MPI, ``--mpirun_hostfile``); that process sees ``ACCELERATE_*``
variables but no ``WORLD_SIZE``. :func:`single_process_launch_problem` recognises that case (reading ``--num_processes``
from the parent ``accelerate launch`` command line) so that sequence-parallel training fails with the command that
works instead of training in one process.
"""

from __future__ import annotations

import os

#: The launch commands that start ``n`` processes on CPU or GPU.
MULTI_PROCESS_LAUNCH = (
    "launch with `torchrun --nproc-per-node {n} <script> ...` (or `python -m torch.distributed.run ...`), or "
    "`accelerate launch --multi_gpu --num_processes {n} <script> ...` (which runs torchrun's launcher and works on "
    "CPU too, with gloo)"
)


def launched_by_accelerate() -> bool:
    """True when ``accelerate launch`` started this process (its launchers set these variables)."""
    return "ACCELERATE_MIXED_PRECISION" in os.environ or "ACCELERATE_DYNAMO_BACKEND" in os.environ


def _parent_command_line() -> list[str]:
    try:
        import psutil

        parent = psutil.Process().parent()
        return parent.cmdline() if parent is not None else []
    except Exception:  # no psutil, no permission, a parent that already exited: nothing to read
        return []


def accelerate_num_processes(command_line: list[str] | None = None) -> int | None:
    """``--num_processes`` of the ``accelerate launch`` command that started this process (``None``: not started by
    such a command, or the value comes from a config file)."""
    tokens = _parent_command_line() if command_line is None else command_line
    if not any(os.path.basename(t).startswith("accelerate") or t.startswith("accelerate.") for t in tokens[:3]):
        return None
    for i, token in enumerate(tokens):
        name, sep, value = token.partition("=")
        if name in ("--num_processes", "--num-processes"):
            value = value if sep else (tokens[i + 1] if i + 1 < len(tokens) else "")
            try:
                return int(value)
            except ValueError:
                return None
    return None


def single_process_launch_problem(sequence_parallel: bool) -> str | None:
    """Why this single process cannot do what was asked, with the launch command that works; ``None`` when nothing
    is wrong.

    Something is wrong when this is the only process (``WORLD_SIZE`` unset or 1) and either ``sequence_parallel`` is
    asked for, or ``accelerate launch --num_processes N`` with N > 1 started it (accelerate ran the script once)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return None
    accelerate = launched_by_accelerate()
    asked = accelerate_num_processes() if accelerate else None
    several = asked is not None and asked > 1
    if not (sequence_parallel or several):
        return None
    n = asked if several else "N"
    if accelerate:
        asked_text = f" --num_processes {asked}" if asked is not None else ""
        head = (
            f"`accelerate launch{asked_text}` started this as the only process (WORLD_SIZE is unset): without "
            "--multi_gpu (with --cpu, or on a machine without GPUs) accelerate launch runs the script once"
        )
    else:
        head = "sequence parallelism needs several processes, but this is the only one (WORLD_SIZE is unset or 1)"
    return f"{head}; {MULTI_PROCESS_LAUNCH.format(n=n)}"


__all__ = ["MULTI_PROCESS_LAUNCH", "accelerate_num_processes", "launched_by_accelerate", "single_process_launch_problem"]
