"""Merging the finished units of a preparation run into the final dataset (and skipped.jsonl)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
from pathlib import Path

import datasets
import pyarrow as pa

from .layout import (
    _SKIPPED_METADATA_KEY,
    DATASET_DIR,
    SKIPPED_NAME,
    UNITS_DIR,
    _atomic_write_text,
    _finished_units,
    _read_config,
    _unit_path,
    dataset_features,
    load_prepared_dataset,
)

logger = logging.getLogger(__name__)


def _missing_units_message(output_dir: Path, missing: list[int], num_units: int) -> str:
    shown = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
    return (
        f"cannot merge {str(output_dir)!r}: {len(missing)} of {num_units} units are missing (unit ids {shown}). "
        "Run the preparation for every shard first (unit u belongs to shard u % num_shards)."
    )


def merge_units(output_dir: str | os.PathLike, *, cleanup_units: bool = False, overwrite: bool = True
                ) -> datasets.Dataset:
    """Merge every finished unit of ``output_dir`` into ``output_dir/dataset`` and write ``skipped.jsonl``.

    Units are concatenated in id order, which is ``(source_id, augmentation_seed)`` order. The dataset is built in a
    temporary folder and renamed into place, so ``output_dir/dataset`` is always complete when it exists. Memory use
    is bounded: units are streamed one record batch at a time. With ``overwrite=False`` an existing merged dataset
    (e.g. from another shard that finished at the same time) is kept as is. Raises ``RuntimeError`` listing the
    missing units.
    """
    output_dir = Path(output_dir)
    final = output_dir / DATASET_DIR
    if not overwrite and final.is_dir():
        return load_prepared_dataset(output_dir)
    config = _read_config(output_dir)
    num_units = int(config["num_units"])
    units_dir = output_dir / UNITS_DIR
    missing = sorted(set(range(num_units)) - _finished_units(units_dir))
    if missing:
        raise RuntimeError(_missing_units_message(output_dir, missing, num_units))
    features = dataset_features(config["class_names"], config["extra_columns"])
    schema = features.arrow_schema
    tag = f"{socket.gethostname()}-{os.getpid()}"
    work = output_dir / f".merge-{tag}"
    staged = output_dir / f".{DATASET_DIR}-{tag}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(staged, ignore_errors=True)
    work.mkdir(parents=True)
    skipped: list[dict[str, str]] = []
    merged = work / "merged.arrow"
    rows = 0
    try:
        with open(merged, "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
            for unit_id in range(num_units):
                with pa.memory_map(str(_unit_path(units_dir, unit_id))) as source:
                    reader = pa.ipc.open_stream(source)
                    meta = reader.schema.metadata or {}
                    skipped.extend(json.loads(meta.get(_SKIPPED_METADATA_KEY, b"[]")))
                    if reader.schema.remove_metadata() != schema.remove_metadata():
                        raise ValueError(
                            f"unit {unit_id} of {str(output_dir)!r} has schema {reader.schema.remove_metadata()} "
                            f"instead of {schema.remove_metadata()}"
                        )
                    for batch in reader:
                        writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=schema))
                        rows += batch.num_rows
        dataset = datasets.Dataset.from_file(str(merged))
        dataset.save_to_disk(str(staged))
        del dataset
        if final.exists() and overwrite:  # an explicit re-merge replaces the previous result
            shutil.rmtree(final)
        try:
            os.rename(staged, final)
        except OSError:
            if not final.is_dir():  # else another process merged at the same moment: its result is identical
                raise
        skipped.sort(key=lambda s: s["source_id"])
        lines = "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in skipped)
        _atomic_write_text(output_dir / SKIPPED_NAME, lines)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(staged, ignore_errors=True)
    logger.info("merged %d units into %s: %d rows, %d skipped videos", num_units, output_dir / DATASET_DIR, rows,
                len(skipped))
    if cleanup_units:
        shutil.rmtree(units_dir, ignore_errors=True)
    return load_prepared_dataset(output_dir)
