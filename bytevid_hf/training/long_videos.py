"""Long-video training (``bytevid train-long``): one video per optimizer step, cut into K pieces that run as the
gradient-accumulation micro-batches with state carry (:class:`~bytevid_hf.training.subsequence.SubsequenceTrainer`),
optionally sharded across processes (sequence parallelism, :class:`SequenceParallelCallback`)."""

from __future__ import annotations

import os

import torch

from .arguments import LongVideoArguments


def load_rows(args: LongVideoArguments):
    """``[{'input_ids': uint8 tensor, 'labels': int}]`` and the class names, from the data ``args`` name (or
    ``args.random_videos`` random byte strings of ``args.random_length`` bytes)."""
    if args.random_videos:
        g = torch.Generator().manual_seed(0)
        rows = [{"input_ids": torch.randint(0, 256, (args.random_length,), generator=g, dtype=torch.uint8),
                 "labels": i % 2} for i in range(args.random_videos)]
        return rows, ["a", "b"]
    import datasets

    from ..processing import read_video_bytes
    from .finetune import load_data_arguments

    if not (args.data_dir or args.dataset_path or args.dataset_name):
        raise ValueError("give data_dir, dataset_path, dataset_name or random_videos")
    data = load_data_arguments(args)
    if isinstance(data, datasets.DatasetDict):
        data = data[args.train_split]
    for column in (args.video_column, args.label_column):
        if column not in data.column_names:
            raise ValueError(f"the dataset has no column {column!r}; columns: {data.column_names}")
    feature = data.features[args.label_column]
    names = feature.names if hasattr(feature, "names") else None
    rows = []
    for row in data:
        ids = torch.from_numpy(read_video_bytes(row[args.video_column]).copy())
        rows.append({"input_ids": ids[: args.max_bytes] if args.max_bytes else ids, "labels": int(row[args.label_column])})
    return rows, names or [str(i) for i in range(max(r["labels"] for r in rows) + 1)]


def run_train_long(args: LongVideoArguments, training_args):
    """Train with K = ``args.num_subsequences`` pieces per video; save model, processor, code and card to
    ``training_args.output_dir`` (pushed with ``--push_to_hub``). ``training_args`` must train one video per step
    (``per_device_train_batch_size=1``); its gradient accumulation is set to K. Returns the TrainOutput."""
    from transformers import set_seed

    from ..modeling import BytesVideoConfig, BytesVideoForClassification
    from ..processing import BytesVideoProcessor
    from .callbacks import SequenceParallelCallback
    from .finetune import data_description, finish_training
    from .subsequence import SubsequenceDataset, SubsequenceTrainer, collate_subsequences

    k = args.num_subsequences
    if training_args.per_device_train_batch_size != 1:
        raise ValueError("long-video training trains one video per step: use per_device_train_batch_size 1")
    if training_args.gradient_accumulation_steps not in (1, k):
        raise ValueError(f"gradient_accumulation_steps must equal num_subsequences ({k}) or be left at 1")
    training_args.gradient_accumulation_steps = k
    training_args.remove_unused_columns = False

    rows, names = load_rows(args)
    set_seed(training_args.seed)  # the same initial weights on every rank and in every rerun
    backend = {"ssm_backend": args.ssm_backend} if args.ssm_backend else {}
    if args.model_name_or_path:
        model = BytesVideoForClassification.from_pretrained(args.model_name_or_path, **backend)
    else:
        config = BytesVideoConfig.from_preset(args.preset, num_labels=len(names), id2label=dict(enumerate(names)),
                                              label2id={n: i for i, n in enumerate(names)}, **backend)
        model = BytesVideoForClassification(config)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    parallel = world > 1 if args.sequence_parallel is None else args.sequence_parallel
    align = model.config.total_pool_factor
    dataset = SubsequenceDataset(rows, k, align=align, seed=training_args.seed, replicas=world if parallel else 1)
    if training_args.max_steps <= 0:  # an iterable dataset needs max_steps: one step per video and epoch
        training_args.max_steps = max(1, int(training_args.num_train_epochs * len(rows)))
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


__all__ = ["load_rows", "run_train_long"]
