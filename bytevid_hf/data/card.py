"""The dataset card of a prepared dataset, and pushing the dataset to the Hub.

The card (``output_dir/README.md``, template ``model_cards/dataset.md``) carries the YAML the Hub and ``datasets``
read: ``configs`` naming the Parquet shards (``data/train-*``), so ``load_dataset(output_dir)`` and
``load_dataset(repo_id)`` read exactly them; ``dataset_info`` with the features (``video`` a ``Video`` column,
``label`` a ``ClassLabel`` with its names) and the split sizes; ``task_categories`` and ``tags``. Its text describes
the columns, the output format and how to load and train on the data.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import datasets
import pyarrow.parquet as pq

from .layout import CARD_NAME, DATA_DIR, SKIPPED_NAME, _atomic_write_text, _read_config, dataset_features


def _shards(output_dir: Path) -> list[Path]:
    return sorted((output_dir / DATA_DIR).glob("train-*.parquet"))


def _output_format(settings: dict[str, Any]) -> str:
    keys = ("codec", "container", "size", "bitrate", "fps", "keep_audio", "max_seconds")
    parts = [f"{key} {settings[key]}" for key in keys if settings.get(key) is not None]
    return ", ".join(parts) or "see the augmentation column"


def render_dataset_card(output_dir: str | os.PathLike, repo_id: str | None = None) -> str:
    """The ``README.md`` text of the merged dataset in ``output_dir``; ``repo_id`` is the name the usage snippets load
    (default: the folder's path)."""
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard, DatasetCardData

    output_dir = Path(output_dir)
    config = _read_config(output_dir)
    shards = _shards(output_dir)
    num_rows = sum(pq.ParquetFile(str(shard)).metadata.num_rows for shard in shards)
    num_bytes = sum(shard.stat().st_size for shard in shards)
    features = dataset_features(config["class_names"], config["extra_columns"])
    info = datasets.DatasetInfo(features=features, download_size=num_bytes, dataset_size=num_bytes)
    info.splits = datasets.SplitDict()
    info.splits.add(datasets.SplitInfo(name="train", num_bytes=num_bytes, num_examples=num_rows))
    is_qa = bool(config["extra_columns"])
    card_data = DatasetCardData(
        task_categories=["video-text-to-text" if is_qa else "video-classification"],
        tags=["video", "bytevid", "encoded-bytes", "augmented"],
        pretty_name=Path(repo_id or output_dir.resolve().name).name,
    )
    DatasetInfosDict({"default": info}).to_dataset_card_data(card_data)
    MetadataConfigs({"default": {"data_files": [{"split": "train", "path": f"{DATA_DIR}/train-*"}]}}
                    ).to_dataset_card_data(card_data)
    skipped = output_dir / SKIPPED_NAME
    settings = config.get("augmentation") or {}
    template = resources.files("bytevid_hf.model_cards").joinpath("dataset.md").read_text(encoding="utf-8")
    card = DatasetCard.from_template(
        card_data, template_str=template, pretty_name=card_data.pretty_name, repo_id=repo_id or str(output_dir),
        num_augmentations=config["num_augmentations"], include_original=config["include_original"],
        num_videos=config["num_videos"], num_rows=num_rows, num_shards=len(shards),
        class_names=config["class_names"], extra_columns=config["extra_columns"], seed=config["seed"],
        output_format=_output_format(config.get("original_settings") or settings),
        disabled_ops=sorted(op for op, value in (settings.get("ops") or {}).items() if value is False),
        num_skipped=len(skipped.read_text(encoding="utf-8").splitlines()) if skipped.is_file() else 0,
    )
    return str(card)


def write_dataset_card(output_dir: str | os.PathLike, repo_id: str | None = None) -> Path:
    """Write (atomically) the dataset card of the merged dataset in ``output_dir`` to ``output_dir/README.md``."""
    path = Path(output_dir) / CARD_NAME
    _atomic_write_text(path, render_dataset_card(output_dir, repo_id))
    return path


def push_prepared_dataset(
    output_dir: str | os.PathLike,
    repo_id: str,
    *,
    private: bool | None = None,
    revision: str | None = None,
    token: str | bool | None = None,
    commit_message: str | None = None,
    create_pr: bool = False,
):
    """Push a merged prepared dataset to the Hub as a dataset repo, in one commit: the Parquet shards (``data/``) and
    the dataset card, its snippets naming ``repo_id``. Shards of an earlier push that are no longer part of the
    dataset are deleted; the work files (units, config, skipped.jsonl) stay local. Returns the ``CommitInfo``; the
    data then loads with ``load_dataset(repo_id)``. The token is huggingface_hub's (``HF_TOKEN``/``hf auth login``)."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    output_dir = Path(output_dir)
    shards = _shards(output_dir)
    if not (output_dir / CARD_NAME).is_file() or not shards:
        raise FileNotFoundError(f"{str(output_dir)!r} holds no merged Parquet dataset ({DATA_DIR}/train-*.parquet + "
                                f"{CARD_NAME}); finish the preparation (or --merge) first")
    api = HfApi(token=token)
    repo_id = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True).repo_id
    if revision not in (None, "main"):
        api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
    names = {f"{DATA_DIR}/{shard.name}" for shard in shards}
    existing = api.list_repo_files(repo_id, repo_type="dataset", revision=revision)
    operations = [CommitOperationAdd(path_in_repo=f"{DATA_DIR}/{shard.name}", path_or_fileobj=str(shard))
                  for shard in shards]
    operations.append(CommitOperationAdd(path_in_repo=CARD_NAME,
                                         path_or_fileobj=render_dataset_card(output_dir, repo_id).encode("utf-8")))
    operations += [CommitOperationDelete(path_in_repo=name) for name in existing
                   if name.startswith(f"{DATA_DIR}/") and name not in names]
    return api.create_commit(repo_id, operations, repo_type="dataset", revision=revision, create_pr=create_pr,
                             commit_message=commit_message or "Upload prepared bytevid dataset")


__all__ = ["push_prepared_dataset", "render_dataset_card", "write_dataset_card"]
