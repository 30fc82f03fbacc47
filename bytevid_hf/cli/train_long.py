"""Train a bytevid classifier on multi-million-byte videos: sub-sequences with state carry, optionally sequence-parallel.

Each optimizer step sees ONE video, cut into --num_subsequences consecutive pieces that run as the
gradient-accumulation micro-batches, each continuing the state the previous piece ended in (SubsequenceTrainer passes
the model's cache from piece to piece, detached). Activation memory is that of one piece; under torchrun with several
processes, every piece is also sharded across the ranks (sequence parallelism with state correction,
SequenceParallelCallback).
"""

from __future__ import annotations

from ..training.arguments import LongVideoArguments
from . import arguments
from .arguments import TrainerCommand, parse

EXAMPLES = """\
  # one process, videos from class subfolders, 8 pieces per video
  bytevid train-long --data_dir videos/ --preset bytes-tiny --num_subsequences 8 \\
      --output_dir out --num_train_epochs 1 --learning_rate 5e-5 --logging_steps 1
  # a Hub dataset (or --dataset_name videofolder --data_dir videos/), pushed at the end
  bytevid train-long --dataset_name user/long-videos --preset bytes-tiny --num_subsequences 8 \\
      --output_dir out --push_to_hub --hub_model_id user/bytevid-long
  # 4 CPU processes (gloo), each holding a quarter of every piece
  torchrun --nproc-per-node 4 -m bytevid_hf.cli train-long --data_dir videos/ --preset bytes-micro \\
      --num_subsequences 4 --output_dir out --max_steps 100
  # memory/throughput check on random bytes (not a video task): 2 "videos" of 2,000,000 bytes
  bytevid train-long --random_videos 2 --random_length 2000000 --preset bytes-micro \\
      --num_subsequences 8 --output_dir /tmp/long --max_steps 2
"""

COMMAND = TrainerCommand(__doc__, EXAMPLES, (LongVideoArguments,), defaults={"per_device_train_batch_size": 1})


def check(argv: list[str], prog: str = "bytevid train-long") -> None:
    """``--help`` and usage errors of the package's own options, without importing torch or transformers."""
    arguments.check(COMMAND, argv, prog)


def main(argv: list[str] | None = None, prog: str = "bytevid train-long"):
    """Parse ``argv`` and run :func:`~bytevid_hf.training.long_videos.run_train_long`; returns the TrainOutput.
    Argument errors exit with a message naming the option."""
    args, training_args = parse(COMMAND, argv, prog).values
    k = args.num_subsequences
    if training_args.per_device_train_batch_size != 1:
        raise SystemExit(f"{prog} trains one video per step: use --per_device_train_batch_size 1")
    if training_args.gradient_accumulation_steps not in (1, k):
        raise SystemExit(f"{prog}: --gradient_accumulation_steps must equal --num_subsequences ({k}) or be left at 1")
    if not (args.data_dir or args.dataset_path or args.dataset_name or args.random_videos):
        raise SystemExit(f"{prog}: give --data_dir, --dataset_path, --dataset_name or --random_videos")
    from ..training.long_videos import run_train_long

    try:
        return run_train_long(args, training_args)
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            # shut gloo down while the interpreter is intact: left to interpreter exit, its threads can be destroyed
            # while still joinable ("terminate called without an active exception", SIGABRT after a finished run)
            dist.destroy_process_group()
