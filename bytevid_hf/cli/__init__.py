"""The ``bytevid`` command: ``bytevid <command> [arguments]``, one subcommand per task.

``bytevid --help`` lists the commands; ``bytevid <command> --help`` describes one, without importing torch or
transformers (the package defers its own imports in this process, see ``bytevid_hf._started_as_command_line``).
``python -m bytevid_hf.cli`` is the same command.

Each entry of :data:`COMMANDS` names a module; adding a command is one line there. The module provides
``main(argv, prog)``, which parses ``argv`` and runs the command, and optionally ``check(argv, prog)``, which only
parses (printing ``--help``, exiting 2 on a usage error) without importing torch, and ``ONE_LINE_ERRORS``, exception
types reported as ``<prog>: error: <message>`` (exit status 1) instead of a traceback. Between ``check`` and ``main``
the command imports what ``import bytevid_hf`` imports everywhere else (models, Auto-class registration).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from dataclasses import dataclass

# Before the first `import torch`: idle OpenMP threads must not spin when processes share the cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

PROG = "bytevid"


@dataclass(frozen=True)
class Command:
    """A subcommand: its name, the module whose ``main(argv, prog)`` runs it, and a one-line summary."""

    name: str
    module: str
    summary: str


COMMANDS: tuple[Command, ...] = (
    Command("finetune", "bytevid_hf.cli.finetune", "fine-tune a video classifier (transformers Trainer)"),
    Command("pretrain", "bytevid_hf.cli.pretrain", "self-supervised pre-training: next-byte or RGB reconstruction"),
    Command("train-long", "bytevid_hf.cli.train_long", "train on long videos: sub-sequences with state carry"),
    Command("finetune-qa", "bytevid_hf.cli.finetune_qa", "fine-tune video question answering (bytevid + Gemma)"),
    Command("evaluate-qa", "bytevid_hf.cli.evaluate_qa", "generate answers and score a video-QA model"),
    Command("prepare-data", "bytevid_hf.cli.prepare_data", "prepare an augmented video dataset (Parquet + card)"),
    Command("push", "bytevid_hf.cli.push", "publish a checkpoint or LoRA adapter to the Hugging Face Hub"),
    Command("benchmark", "bytevid_hf.experiments.benchmark", "benchmark against transformers' baselines (CPU)"),
    Command("demo", "bytevid_hf.cli.demo", "learn to classify synthetic mp4s from their bytes on a CPU (~10 min)"),
    Command("evidence", "bytevid_hf.experiments.evidence.command", "what byte models learn: bytes vs pixels, equal CPU"),
)

#: Flags after which a command only prints help: the package's models are not imported for them.
HELP_FLAGS = ("-h", "--help", "--help-all")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: ``bytevid {command} ...`` (the command's own arguments are parsed by the command)."""
    width = max(len(c.name) for c in COMMANDS)
    listing = "\n".join(f"  {c.name:<{width}}  {c.summary}" for c in COMMANDS)
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage=f"{PROG} <command> [arguments]  |  {PROG} <command> --help",
        description="Video understanding from encoded mp4 bytes (bytevid-hf).",
        epilog=f"commands:\n{listing}\n\nExample: {PROG} finetune --data_dir videos/ --output_dir out --preset bytes-tiny",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("command", choices=[c.name for c in COMMANDS], help=argparse.SUPPRESS)  # listed in the epilog
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bytevid-hf")
    except PackageNotFoundError:
        return "(not installed)"


def main(argv: list[str] | None = None) -> int:
    """Run ``bytevid <command> ...``; returns the exit status (0 on success)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if not argv:
        parser.print_help()
        return 2
    if argv[0].startswith("-"):  # bytevid --help, bytevid --version (anything else exits 2 with argparse's message)
        parser.parse_args(argv)
    name, rest = argv[0], argv[1:]
    parser.parse_args([name])  # an unknown command exits 2: "argument command: invalid choice: ..."
    command = next(c for c in COMMANDS if c.name == name)
    module = importlib.import_module(command.module)
    prog = f"{PROG} {name}"
    if hasattr(module, "check"):
        module.check(rest, prog=prog)  # --help and usage errors exit here, before torch is imported
    elif any(arg in HELP_FLAGS for arg in rest):
        return _exit_status(module.main(rest, prog=prog))
    import bytevid_hf

    bytevid_hf._import_models()  # what `import bytevid_hf` does elsewhere: models, Auto-class registration
    try:
        return _exit_status(module.main(rest, prog=prog))
    except getattr(module, "ONE_LINE_ERRORS", ()) as error:  # errors the command reports without a traceback
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 1


def _exit_status(result) -> int:
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


__all__ = ["COMMANDS", "Command", "build_parser", "main"]
