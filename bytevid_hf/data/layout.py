"""The output folder of a preparation run: file names, dataset features, unit files, the config check, loading."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets

from .sources import QA_COLUMNS

CONFIG_NAME = "prepare_config.json"
UNITS_DIR = "units"
DATA_DIR = "data"  # the Parquet shards: data/train-00000-of-00003.parquet ...
CARD_NAME = "README.md"  # the dataset card; its YAML names the shards, so load_dataset(output_dir) reads them
DATASET_DIR = "dataset"  # the merged dataset of the earlier save_to_disk format (still read)
SKIPPED_NAME = "skipped.jsonl"
_SKIPPED_METADATA_KEY = b"bytevid_skipped"


def dataset_features(class_names: Sequence[str], extra_columns: Sequence[str] = ()) -> datasets.Features:
    """The ``datasets`` features of a prepared dataset: ``video`` is a ``Video(decode=False)`` column (the encoded
    file's ``bytes`` and a file name ``path``), so rows hold the file as the processor reads it."""
    features = unit_features(class_names, extra_columns)
    features["video"] = datasets.Video(decode=False)
    return features


def unit_features(class_names: Sequence[str], extra_columns: Sequence[str] = ()) -> datasets.Features:
    """The features of a unit file (the work in progress): as :func:`dataset_features`, with ``video`` as plain
    binary (the format of every unit ever written, so that a run resumes across versions)."""
    features = {
        "video": datasets.Value("binary"),
        "label": datasets.ClassLabel(names=list(class_names)),
        "source_id": datasets.Value("string"),
        "augmentation_seed": datasets.Value("int64"),
        "augmentation": datasets.Value("string"),
    }
    for column in QA_COLUMNS:
        if column in extra_columns:
            features[column] = (
                datasets.Sequence(datasets.Value("string")) if column == "choices" else datasets.Value("string")
            )
    return datasets.Features(features)


def _unit_path(units_dir: str | Path, unit_id: int) -> Path:
    return Path(units_dir) / f"unit-{unit_id:06d}.arrow"


def _temp_prefix(unit_id: int) -> str:
    return f".unit-{unit_id:06d}.arrow.tmp-"


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{socket.gethostname()}-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _read_config(output_dir: Path) -> dict[str, Any]:
    path = output_dir / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{str(output_dir)!r} is not a prepare_data output folder (no {CONFIG_NAME}); run the preparation "
            "(with --video_dir or --manifest) first"
        )
    return json.loads(path.read_text(encoding="utf-8"))


_INFORMATIONAL_KEYS = ("input",)  # may differ between machines/reruns without changing the output


def _check_or_write_config(output_dir: Path, config: dict[str, Any]) -> None:
    path = output_dir / CONFIG_NAME
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        differ = sorted(
            k for k in set(old) | set(config) if k not in _INFORMATIONAL_KEYS and old.get(k) != config.get(k)
        )
        if differ:
            details = "; ".join(f"{k}: {old.get(k)!r} -> {config.get(k)!r}" for k in differ)
            raise ValueError(
                f"{str(output_dir)!r} was prepared with different settings or inputs ({details[:2000]}). Rerun with "
                "the original settings to resume, or use a new --output_dir (or delete this one) to start over."
            )
        return
    _atomic_write_text(path, json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def _finished_units(units_dir: Path) -> set[int]:
    done = set()
    if units_dir.is_dir():
        for p in units_dir.iterdir():
            name = p.name
            if name.startswith("unit-") and name.endswith(".arrow") and name[5:-6].isdigit():
                done.add(int(name[5:-6]))
    return done


def is_merged(output_dir: str | os.PathLike) -> bool:
    """Whether ``output_dir`` holds a merged dataset (the Parquet shards and their card, or the earlier
    ``dataset/`` folder)."""
    output_dir = Path(output_dir)
    return ((output_dir / CARD_NAME).is_file() and (output_dir / DATA_DIR).is_dir()) or \
        (output_dir / DATASET_DIR).is_dir()


def load_prepared_dataset(output_dir: str | os.PathLike, **load_kwargs: Any) -> datasets.Dataset:
    """Load the merged dataset of a preparation run: ``datasets.load_dataset(output_dir, split="train")`` (the card
    names the Parquet shards), or ``load_from_disk(output_dir / "dataset")`` for outputs of the earlier format."""
    path = Path(output_dir)
    if (path / CARD_NAME).is_file() and (path / DATA_DIR).is_dir():
        return datasets.load_dataset(str(path), split="train", **load_kwargs)
    if (path / DATASET_DIR).is_dir():
        return datasets.load_from_disk(str(path / DATASET_DIR))
    raise FileNotFoundError(
        f"{str(path)!r} holds no merged dataset ({DATA_DIR}/ + {CARD_NAME}): the preparation has not been merged yet "
        "(run every shard, then scripts/prepare_data.py --merge --output_dir ...)"
    )
