"""Augmented video datasets at scale: offline preparation (resumable, parallel, shardable) and on-the-fly streams.

Byte models cannot be augmented in input space, so every augmented sample is a *new encoding* of the clip
(:class:`~bytevid_hf.processing.augment.VideoAugmenter`: decode -> RGB ops -> re-encode). That is expensive, so this
package offers two ways to pay for it:

**Offline** — :func:`prepare_dataset` (CLI: ``scripts/prepare_data.py``) writes ``K`` augmented encodings of every
video once, as a Parquet dataset with a ``Video`` column and a dataset card, which training reads like any other
(``load_dataset(output_dir)``, ``--dataset_path output_dir``) and :func:`push_prepared_dataset` puts on the Hub::

    from bytevid_hf.data import prepare_dataset, load_prepared_dataset, push_prepared_dataset

    prepare_dataset("prepared/", video_dir="videos/", num_augmentations=4, num_proc=8)
    ds = load_prepared_dataset("prepared/")   # == datasets.load_dataset("prepared/", split="train")
    push_prepared_dataset("prepared/", "user/videos-aug4")   # then load_dataset("user/videos-aug4")

The input is a folder of class subfolders, a CSV/JSONL manifest, or any ``datasets.Dataset`` (``dataset=``, e.g.
``load_dataset("user/videos", split="train")``). The work is split into *units* (``videos_per_unit`` videos x all
their encodings). Each finished unit is written atomically (temporary name, then rename) to
``output_dir/units/unit-NNNNNN.arrow``, so a killed run resumes where it stopped and never duplicates or loses rows;
``num_shards``/``shard_index`` split the units across machines; when every unit exists they are merged into
Parquet shards (sorted by ``source_id`` then ``augmentation_seed``).

Output layout::

    output_dir/
        README.md             the dataset card: YAML naming the shards (configs), features, sizes; usage
        data/train-00000-of-0000N.parquet ...   the dataset (shards of max_shard_size, default 500 MB)
        prepare_config.json   settings + input fingerprint; a rerun/shard with other settings is refused
        units/unit-000000.arrow ...   one Arrow IPC stream file per finished unit (skipped videos in its metadata)
        skipped.jsonl         videos skipped with skip_bad=True (source_id, path, error), written at merge time

Columns of the dataset: ``video`` (``Video(decode=False)``: the encoded file's ``bytes`` and a file name ``path``),
``label`` (``ClassLabel``), ``source_id`` (the video's path relative to the folder/manifest root, or its row in an
input dataset), ``augmentation_seed`` (int; ``-1`` for the non-augmented transcode of ``include_original=True``),
``augmentation`` (JSON of the augmenter settings), and ``question``/``answer``/``choices`` when the input has them.
(Outputs of the earlier ``dataset/`` save_to_disk format are still read by :func:`load_prepared_dataset`.)

**On the fly** — :class:`AugmentedVideoStream` (a ``torch.utils.data.IterableDataset``) re-encodes every sample with
a fresh seed in every epoch, split across DataLoader workers; :func:`augment_transform` does the same as a
``datasets.Dataset.set_transform`` function.
"""

from __future__ import annotations

from .card import push_prepared_dataset, render_dataset_card, write_dataset_card
from .encode import UNIT_DELAY_ENV
from .errors import BadVideoError
from .layout import (  # the output folder's names (not in __all__) stay importable from here, as before
    CARD_NAME,  # noqa: F401
    CONFIG_NAME,  # noqa: F401
    DATA_DIR,  # noqa: F401
    DATASET_DIR,  # noqa: F401
    SKIPPED_NAME,  # noqa: F401
    UNITS_DIR,  # noqa: F401
    dataset_features,
    load_prepared_dataset,
)
from .loading import as_encoded_videos, load_video_dataset, load_video_folder
from .merge import merge_units
from .prepare import prepare_dataset
from .seeds import ORIGINAL_SEED, augmentation_seed, augmentation_seeds
from .sources import QA_COLUMNS, VideoListing, VideoRecord, list_dataset, list_video_folder, read_manifest
from .stream import AugmentedVideoStream, AugmentTransform, augment_transform
from .units import WorkUnit, build_work_units

__all__ = [
    "VideoRecord",
    "VideoListing",
    "WorkUnit",
    "BadVideoError",
    "list_dataset",
    "list_video_folder",
    "read_manifest",
    "as_encoded_videos",
    "load_video_dataset",
    "load_video_folder",
    "push_prepared_dataset",
    "render_dataset_card",
    "write_dataset_card",
    "augmentation_seed",
    "augmentation_seeds",
    "build_work_units",
    "dataset_features",
    "prepare_dataset",
    "merge_units",
    "load_prepared_dataset",
    "AugmentedVideoStream",
    "AugmentTransform",
    "augment_transform",
    "QA_COLUMNS",
    "ORIGINAL_SEED",
    "UNIT_DELAY_ENV",
]
