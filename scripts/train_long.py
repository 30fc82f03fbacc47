#!/usr/bin/env python
"""Train a bytevid classifier on multi-million-byte videos: sub-sequences with state carry, optionally sequence-parallel.

Each optimizer step sees ONE video, cut into --num_subsequences consecutive pieces that run as the
gradient-accumulation micro-batches, each continuing the state the previous piece ended in (SubsequenceTrainer passes
the model's cache from piece to piece, detached). Activation memory is that of one piece; under torchrun with several
processes, every piece is also sharded across the ranks (sequence parallelism with state correction,
SequenceParallelCallback).

Examples:
    # one process, videos from class subfolders, 8 pieces per video
    python scripts/train_long.py --data_dir videos/ --preset bytes-tiny --num_subsequences 8 \
        --output_dir out --num_train_epochs 1 --learning_rate 5e-5 --logging_steps 1

    # a Hub dataset (or --dataset_name videofolder --data_dir videos/), pushed at the end
    python scripts/train_long.py --dataset_name user/long-videos --preset bytes-tiny --num_subsequences 8 \
        --output_dir out --push_to_hub --hub_model_id user/bytevid-long

    # 4 CPU processes (gloo), each holding a quarter of every piece
    torchrun --nproc-per-node 4 scripts/train_long.py --data_dir videos/ --preset bytes-micro \
        --num_subsequences 4 --output_dir out --max_steps 100

    # memory/throughput check on random bytes (not a video task): 2 "videos" of 2,000,000 bytes
    python scripts/train_long.py --random_videos 2 --random_length 2000000 --preset bytes-micro \
        --num_subsequences 8 --output_dir /tmp/long --max_steps 2
"""

from __future__ import annotations

import os
import sys

# Before the first `import torch`: idle OpenMP threads must not spin when processes share the cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from dataclasses import dataclass, field  # noqa: E402

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from transformers import HfArgumentParser, TrainingArguments, set_seed  # noqa: E402

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification, BytesVideoProcessor  # noqa: E402
from bytevid_hf.training.callbacks import SequenceParallelCallback  # noqa: E402
from bytevid_hf.training.subsequence import SubsequenceDataset, SubsequenceTrainer, collate_subsequences  # noqa: E402


@dataclass
class LongVideoArguments:
    """Data and model for long-video training."""

    data_dir: str | None = field(default=None, metadata={
        "help": "folder of class subfolders of videos; with --dataset_name, load_dataset's data_dir"})
    dataset_path: str | None = field(default=None, metadata={
        "help": "local dataset with a video and a label column (save_to_disk, prepare_data.py output, Parquet ...)"})
    dataset_name: str | None = field(default=None, metadata={
        "help": "load_dataset name: a Hub dataset id, or videofolder with --data_dir"})
    dataset_config: str | None = field(default=None, metadata={"help": "configuration name of --dataset_name"})
    dataset_revision: str | None = field(default=None, metadata={"help": "revision of a Hub dataset"})
    train_split: str = field(default="train", metadata={"help": "split to train on"})
    video_column: str = field(default="video", metadata={"help": "video column (Video feature, bytes or paths)"})
    label_column: str = field(default="label", metadata={"help": "label column (ClassLabel or int)"})
    random_videos: int = field(default=0, metadata={"help": "use N random byte strings instead (memory/speed check)"})
    random_length: int = field(default=1_000_000, metadata={"help": "bytes per random video"})
    preset: str = field(default="bytes-tiny", metadata={"help": "architecture preset for a new model"})
    model_name_or_path: str | None = field(default=None, metadata={"help": "start from a saved bytevid checkpoint"})
    num_subsequences: int = field(default=8, metadata={"help": "K: pieces per video (gradient accumulation steps)"})
    max_bytes: int | None = field(default=None, metadata={"help": "truncate every video to this many bytes"})
    sequence_parallel: bool | None = field(
        default=None, metadata={"help": "shard pieces across processes (default: when more than one process runs)"}
    )


def load_rows(args: LongVideoArguments):
    """[{'input_ids': uint8 tensor, 'labels': int}], class names."""
    if args.random_videos:
        g = torch.Generator().manual_seed(0)
        rows = [{"input_ids": torch.randint(0, 256, (args.random_length,), generator=g, dtype=torch.uint8),
                 "labels": i % 2} for i in range(args.random_videos)]
        return rows, ["a", "b"]
    import datasets

    from bytevid_hf.processing import read_video_bytes
    from bytevid_hf.training.finetune import load_data_arguments

    if not (args.data_dir or args.dataset_path or args.dataset_name):
        raise SystemExit("train_long.py: give --data_dir, --dataset_path, --dataset_name or --random_videos")
    data = load_data_arguments(args)
    if isinstance(data, datasets.DatasetDict):
        data = data[args.train_split]
    for column in (args.video_column, args.label_column):
        if column not in data.column_names:
            raise SystemExit(f"train_long.py: the dataset has no column {column!r}; columns: {data.column_names}")
    feature = data.features[args.label_column]
    names = feature.names if hasattr(feature, "names") else None
    rows = []
    for row in data:
        ids = torch.from_numpy(read_video_bytes(row[args.video_column]).copy())
        rows.append({"input_ids": ids[: args.max_bytes] if args.max_bytes else ids, "labels": int(row[args.label_column])})
    return rows, names or [str(i) for i in range(max(r["labels"] for r in rows) + 1)]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not any(a.startswith("--per_device_train_batch_size") for a in argv):
        argv += ["--per_device_train_batch_size", "1"]  # one video per step (TrainingArguments' default is 8)
    parser = HfArgumentParser((LongVideoArguments, TrainingArguments))
    args, training_args = parser.parse_args_into_dataclasses(args=argv)
    k = args.num_subsequences
    if training_args.per_device_train_batch_size != 1:
        raise SystemExit("train_long.py trains one video per step: use --per_device_train_batch_size 1")
    if training_args.gradient_accumulation_steps not in (1, k):
        raise SystemExit(f"--gradient_accumulation_steps must equal --num_subsequences ({k}) or be left at 1")
    training_args.gradient_accumulation_steps = k
    training_args.remove_unused_columns = False

    rows, names = load_rows(args)
    set_seed(training_args.seed)  # the same initial weights on every rank and in every rerun
    if args.model_name_or_path:
        model = BytesVideoForClassification.from_pretrained(args.model_name_or_path)
    else:
        config = BytesVideoConfig.from_preset(args.preset, num_labels=len(names),
                                              id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})
        model = BytesVideoForClassification(config)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    parallel = world > 1 if args.sequence_parallel is None else args.sequence_parallel
    align = model.config.total_pool_factor
    dataset = SubsequenceDataset(rows, k, align=align, seed=training_args.seed, replicas=world if parallel else 1)
    if training_args.max_steps <= 0:  # an iterable dataset needs max_steps: one step per video and epoch
        training_args.max_steps = max(1, int(training_args.num_train_epochs * len(rows)))
    from bytevid_hf.training.finetune import data_description, finish_training

    trainer = SubsequenceTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        data_collator=collate_subsequences,
        processing_class=BytesVideoProcessor(),  # saved (with its code) beside the model; the rows are bytes already
        callbacks=[SequenceParallelCallback(sequence_parallel=parallel)],
        card_kwargs=data_description(args),
    )
    # --resume_from_checkpoint out/checkpoint-N continues an interrupted run exactly (tests/test_resume.py);
    # add --restore_callback_states_from_checkpoint to bring back the callback's unlogged statistics too
    result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_state()  # trainer_state.json: the log history (losses, sp_boundary_state_rms)
    finish_training(trainer)  # model + processor + code + card; pushed with --push_to_hub
    return result


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    finally:
        if dist.is_available() and dist.is_initialized():
            # shut gloo down while the interpreter is intact: left to interpreter exit, its threads can be destroyed
            # while still joinable ("terminate called without an active exception", SIGABRT after a finished run)
            dist.destroy_process_group()
