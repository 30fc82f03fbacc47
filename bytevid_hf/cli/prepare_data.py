"""Prepare an augmented video dataset offline: K augmented encodings per video, resumable, parallel, shardable.

Every video is decoded, augmented in RGB space and re-encoded ``--num_augmentations`` times
(``bytevid_hf.processing.augment.VideoAugmenter``); the result is a Parquet dataset with a ``Video`` column and a
dataset card, which ``datasets.load_dataset(OUTPUT_DIR)`` reads, training reads with
``bytevid finetune --dataset_path OUTPUT_DIR`` and ``--push_to_hub user/name`` puts on the Hub (then
``--dataset_name user/name``). The logic lives in :mod:`bytevid_hf.data`.

Input (one of):
    --video_dir DIR     DIR/<class_name>/**/<video>: labels from the subfolder names (sorted).
    --manifest FILE     CSV or JSONL with columns path, label[, question, answer, choices]; paths may be relative to
                        the manifest's folder; choices is a JSON list (JSONL) or a "|"-separated string (CSV).
    --dataset_name NAME a datasets dataset: a Hub id (user/videos), a local dataset folder, or videofolder with
                        --data_dir; --dataset_config, --dataset_split (default train), --video_column (a Video
                        feature, bytes or paths) and --label_column (ClassLabel, int or str) select what is read.

Output (--output_dir OUT):
    OUT/README.md           the dataset card: YAML naming the shards, the features (ClassLabel names, Video) and sizes.
    OUT/data/train-NNNNN-of-NNNNN.parquet   the dataset, shards of --max_shard_size (default 500MB): columns video
                            (Video: the encoded file's bytes + a file name), label (ClassLabel), source_id (path
                            relative to the input root, or the input dataset's row), augmentation_seed (int; -1 = the
                            non-augmented transcode of --include_original), augmentation (JSON of the augmenter
                            settings) [+ question, answer, choices]; rows sorted by (source_id, augmentation_seed).
    OUT/units/unit-NNNNNN.arrow   one file per finished work unit (--videos_per_unit videos x their encodings),
                            written atomically (temporary name + rename).
    OUT/prepare_config.json settings and a fingerprint of the inputs; a rerun or shard with other settings is refused.
    OUT/skipped.jsonl       videos skipped with --skip_bad (source_id, path, error).

Seeds come from (--seed, source_id, k), so a rerun writes identical bytes. A killed run resumes where it stopped:
rerun the same command; finished units are skipped, nothing is duplicated or lost.

Examples:
    bytevid prepare-data --video_dir videos/ --output_dir prepared/ --num_augmentations 4 --num_proc 8
    bytevid prepare-data --dataset_name user/videos --output_dir prepared/ --push_to_hub user/videos-aug4
    bytevid prepare-data --manifest qa.jsonl --output_dir prepared/ --num_augmentations 2 \\
        --include_original --size 256 --max_seconds 10 --disable_ops cutout,invert

Cluster array job (S machines; every task sees the same inputs and OUT, e.g. on a shared file system):
    # task i = 0 .. S-1 (SLURM: #SBATCH --array=0-15, i=$SLURM_ARRAY_TASK_ID)
    bytevid prepare-data --video_dir /data/videos --output_dir /shared/prepared \\
        --num_augmentations 8 --num_proc $SLURM_CPUS_PER_TASK --num_shards 16 --shard_index $i --no_merge
    # then one dependent job (sbatch --dependency=afterok:<array job id>):
    bytevid prepare-data --merge --output_dir /shared/prepared
Shard i encodes only the units with unit_id % S == i; a failed or preempted task is simply resubmitted (it resumes).
Without --no_merge, whichever shard finishes last (finding every unit present) merges automatically.
"""

from __future__ import annotations

import argparse
import json
import logging

CODECS = ("h264", "h265", "vp9")
CONTAINERS = ("mp4", "mov", "webm", "mkv")
#: Errors the command reports as one line ("<prog>: error: ...", exit status 1) instead of a traceback;
#: bytevid_hf.data.BadVideoError is a ValueError.
ONE_LINE_ERRORS = (FileNotFoundError, ValueError, RuntimeError)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command's parser (argparse only: building it imports nothing heavy)."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    src = parser.add_argument_group("input (one of --video_dir / --manifest / --dataset_name; none with --merge)")
    src.add_argument("--video_dir", help="folder of class subfolders of videos")
    src.add_argument("--manifest", help="CSV or JSONL with columns path,label[,question,answer,choices]")
    src.add_argument("--dataset_name", help="datasets.load_dataset name: a Hub dataset id, a local dataset folder, or "
                                            "videofolder (with --data_dir)")
    src.add_argument("--dataset_config", help="configuration name of --dataset_name")
    src.add_argument("--dataset_split", default="train", help="split of --dataset_name to prepare (default train)")
    src.add_argument("--dataset_revision", help="revision of a Hub dataset")
    src.add_argument("--data_dir", help="load_dataset's data_dir for --dataset_name (e.g. a videofolder tree)")
    src.add_argument("--video_column", default="video", help="video column of --dataset_name (default video)")
    src.add_argument("--label_column", default="label", help="label column of --dataset_name (default label)")
    src.add_argument("--class_names", help="comma-separated class names fixing the label order (manifest input)")

    out = parser.add_argument_group("output and work split")
    out.add_argument("--output_dir", help="output folder (units/, dataset/, prepare_config.json)")
    out.add_argument("--num_augmentations", type=int, default=4, help="augmented encodings per video (default 4)")
    out.add_argument("--include_original", action="store_true",
                     help="also store the non-augmented transcode with augmentation_seed -1")
    out.add_argument("--seed", type=int, default=0, help="base seed of the augmentation seeds (default 0)")
    out.add_argument("--num_proc", type=int, default=1, help="worker processes (default 1)")
    out.add_argument("--videos_per_unit", type=int, default=16,
                     help="videos per work unit, the granularity of resuming and sharding (default 16)")
    out.add_argument("--num_shards", type=int, default=1, help="split the units across this many machines")
    out.add_argument("--shard_index", type=int, default=0, help="this machine's shard, in [0, num_shards)")
    merge = out.add_mutually_exclusive_group()
    merge.add_argument("--merge", action="store_true",
                       help="only merge the finished units of every shard into OUTPUT_DIR/dataset (no encoding)")
    merge.add_argument("--no_merge", action="store_true", help="do not merge automatically when all units exist")
    out.add_argument("--cleanup_units", action="store_true", help="delete OUTPUT_DIR/units after the merge")
    out.add_argument("--max_shard_size", default="500MB", help="bytes per Parquet shard of the dataset (default 500MB)")
    out.add_argument("--push_to_hub", metavar="REPO_ID",
                     help="after the merge, push the dataset (shards + card) to this Hub dataset repo")
    out.add_argument("--private", action="store_true", help="create the --push_to_hub repo as private")
    out.add_argument("--hub_revision", help="branch to push to (created from main when missing)")
    out.add_argument("--skip_bad", action="store_true",
                     help="skip (and list in skipped.jsonl) videos that cannot be decoded, instead of failing")
    out.add_argument("--no_progress", action="store_true", help="no progress bar")

    aug = parser.add_argument_group("augmenter (bytevid_hf.processing.augment.VideoAugmenter)")
    aug.add_argument("--codec", choices=CODECS, default="h264")
    aug.add_argument("--container", choices=CONTAINERS, default="mp4")
    aug.add_argument("--size", type=int, default=384, help="shorter side of the output in pixels (default 384)")
    aug.add_argument("--bitrate", type=int, default=200_000, help="video bitrate in bit/s (default 200000)")
    aug.add_argument("--fps", type=float, default=25, help="output frame rate (default 25)")
    aug.add_argument("--keep_audio", action="store_true", help="keep (re-encode) the first audio stream")
    aug.add_argument("--max_seconds", type=float, default=None, help="use at most this many seconds of each video")
    aug.add_argument("--disable_ops", default="",
                     help="comma-separated augmentation ops to switch off, e.g. cutout,invert (ops: see --list_ops)")
    aug.add_argument("--op_options", default=None,
                     help='JSON object of per-op parameters, e.g. \'{"contrast": {"strength": 0.6, "p": 1.0}}\'')
    aug.add_argument("--list_ops", action="store_true", help="print the augmentation ops and their defaults, then exit")
    return parser


def make_augmenter(args: argparse.Namespace):
    """The ``VideoAugmenter`` described by the command line (raises ``SystemExit``-friendly ValueErrors)."""
    from bytevid_hf.processing.augment import DEFAULT_OPS, VideoAugmenter

    ops: dict = {}
    if args.op_options:
        try:
            ops = json.loads(args.op_options)
        except json.JSONDecodeError as e:
            raise ValueError(f"--op_options is not valid JSON: {e}") from e
        if not isinstance(ops, dict):
            raise ValueError(f"--op_options must be a JSON object mapping op names to parameters, got {ops!r}")
    disabled = [op.strip() for op in args.disable_ops.split(",") if op.strip()]
    unknown = sorted((set(disabled) | set(ops)) - set(DEFAULT_OPS))
    if unknown:
        raise ValueError(f"unknown augmentation op(s) {unknown}; ops: {', '.join(DEFAULT_OPS)}")
    both = sorted(set(disabled) & set(ops))
    if both:
        raise ValueError(f"op(s) {both} are both disabled (--disable_ops) and configured (--op_options)")
    ops.update({op: False for op in disabled})
    fps = int(args.fps) if float(args.fps).is_integer() else args.fps
    max_seconds = args.max_seconds
    if max_seconds is not None and float(max_seconds).is_integer():
        max_seconds = int(max_seconds)
    return VideoAugmenter(codec=args.codec, container=args.container, size=args.size, bitrate=args.bitrate, fps=fps,
                          keep_audio=args.keep_audio, max_seconds=max_seconds, **ops)


def check(argv: list[str], prog: str = "bytevid prepare-data") -> None:
    """``--help`` and usage errors, before anything heavy is imported."""
    build_parser(prog).parse_args(argv)


def main(argv: list[str] | None = None, prog: str | None = "bytevid prepare-data"):
    """Parse ``argv`` and prepare (or merge) the dataset; returns it, or None while other shards' units are missing."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    if args.list_ops:
        from bytevid_hf.processing.augment import DEFAULT_OPS

        for name, params in DEFAULT_OPS.items():
            print(f"{name}: {json.dumps(params)}")
        return None

    if not args.output_dir:
        parser.error("--output_dir is required")
    from bytevid_hf.data import merge_units, prepare_dataset, push_prepared_dataset

    if args.merge:
        if args.video_dir or args.manifest or args.dataset_name:
            parser.error("--merge only merges existing units: do not pass --video_dir/--manifest/--dataset_name")
        dataset = merge_units(args.output_dir, cleanup_units=args.cleanup_units, max_shard_size=args.max_shard_size)
        _push(args, push_prepared_dataset)
        return dataset
    inputs = [flag for flag in ("video_dir", "manifest", "dataset_name") if getattr(args, flag)]
    if len(inputs) != 1:
        parser.error("pass exactly one of --video_dir, --manifest or --dataset_name (or --merge to merge finished "
                     "shards)")
    if args.class_names and args.video_dir:
        parser.error("--class_names applies to --manifest / --dataset_name input (folder classes are the subfolder "
                     "names)")
    if args.data_dir and not args.dataset_name:
        parser.error("--data_dir is load_dataset's data_dir: use it with --dataset_name (e.g. videofolder)")
    try:
        augmenter = make_augmenter(args)
    except (ValueError, TypeError) as e:
        parser.error(str(e))
    class_names = [c.strip() for c in args.class_names.split(",")] if args.class_names else None
    source, description = None, None
    if args.dataset_name:
        from bytevid_hf.data import load_video_dataset

        source = load_video_dataset(args.dataset_name, config=args.dataset_config, data_dir=args.data_dir,
                                    split=args.dataset_split, revision=args.dataset_revision)
        description = {"dataset_name": args.dataset_name, "config": args.dataset_config, "split": args.dataset_split,
                       "data_dir": args.data_dir, "revision": args.dataset_revision}
    dataset = prepare_dataset(
        args.output_dir,
        video_dir=args.video_dir,
        manifest=args.manifest,
        dataset=source,
        video_column=args.video_column,
        label_column=args.label_column,
        augmenter=augmenter,
        num_augmentations=args.num_augmentations,
        include_original=args.include_original,
        seed=args.seed,
        num_proc=args.num_proc,
        videos_per_unit=args.videos_per_unit,
        num_shards=args.num_shards,
        shard_index=args.shard_index,
        merge=False if args.no_merge else None,
        skip_bad=args.skip_bad,
        class_names=class_names,
        cleanup_units=args.cleanup_units,
        progress=not args.no_progress,
        max_shard_size=args.max_shard_size,
        input_description=description,
    )
    if dataset is not None:
        print(f"dataset: {args.output_dir} ({dataset.num_rows} rows, Parquet + dataset card); load it with "
              f"datasets.load_dataset({args.output_dir!r}) or train with --dataset_path {args.output_dir}")
        _push(args, push_prepared_dataset)
    elif args.push_to_hub:
        print("not pushed: the dataset is not merged yet (units of other shards are missing)")
    return dataset


def _push(args: argparse.Namespace, push) -> None:
    if args.push_to_hub:
        info = push(args.output_dir, args.push_to_hub, private=args.private or None, revision=args.hub_revision)
        print(f"pushed to the Hub dataset repo {args.push_to_hub}: {info.commit_url}")

