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
DATASET_DIR = "dataset"
SKIPPED_NAME = "skipped.jsonl"
_SKIPPED_METADATA_KEY = b"bytevid_skipped"


def dataset_features(class_names: Sequence[str], extra_columns: Sequence[str] = ()) -> datasets.Features:
    """The ``datasets`` features of a prepared dataset."""
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


def load_prepared_dataset(output_dir: str | os.PathLike) -> datasets.Dataset:
    """Load the merged dataset of a preparation run: ``datasets.load_from_disk(output_dir / "dataset")``."""
    path = Path(output_dir) / DATASET_DIR
    if not path.is_dir():
        raise FileNotFoundError(
            f"{str(path)!r} does not exist: the preparation in {str(output_dir)!r} has not been merged yet "
            "(run every shard, then scripts/prepare_data.py --merge --output_dir ...)"
        )
    return datasets.load_from_disk(str(path))

