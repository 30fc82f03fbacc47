"""Merging the finished units of a preparation run into the final dataset: Parquet shards with a ``Video`` column,
their dataset card (and skipped.jsonl)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

from .layout import (
    _SKIPPED_METADATA_KEY,
    CARD_NAME,
    DATA_DIR,
    SKIPPED_NAME,
    UNITS_DIR,
    _atomic_write_text,
    _finished_units,
    _read_config,
    _unit_path,
    dataset_features,
    is_merged,
    load_prepared_dataset,
    unit_features,
)

logger = logging.getLogger(__name__)

#: Default size of one Parquet shard (``datasets``' ``push_to_hub`` default), and the largest row group.
DEFAULT_MAX_SHARD_SIZE = "500MB"
_MAX_ROW_GROUP_BYTES = 100 * 1000**2


def _missing_units_message(output_dir: Path, missing: list[int], num_units: int) -> str:
    shown = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
    return (
        f"cannot merge {str(output_dir)!r}: {len(missing)} of {num_units} units are missing (unit ids {shown}). "
        "Run the preparation for every shard first (unit u belongs to shard u % num_shards)."
    )


def _size_in_bytes(size: int | str) -> int:
    from datasets.utils.py_utils import convert_file_size_to_int  # what datasets' push_to_hub reads it with

    value = convert_file_size_to_int(size)
    if value < 1:
        raise ValueError(f"max_shard_size must be positive, got {size!r}")
    return value


def _file_names(source_ids: list[str], seeds: list[int], settings: list[str]) -> list[str]:
    """The ``path`` of each row's ``Video`` value: ``<source_id without suffix>.<seed or 'original'>.<container>``
    (a file name for the Hub viewer and decoders; the bytes are embedded)."""
    names, containers = [], {}
    for source_id, seed, setting in zip(source_ids, seeds, settings):
        if setting not in containers:
            try:
                containers[setting] = json.loads(setting).get("container")
            except (ValueError, AttributeError):
                containers[setting] = None
        stem, suffix = os.path.splitext(source_id)
        extension = containers[setting] or suffix.lstrip(".") or "mp4"
        names.append(f"{stem}.{'original' if seed < 0 else seed}.{extension}")
    return names


def _to_dataset_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """A unit's record batch (``video`` binary) as a batch of the dataset (``video`` a ``Video`` struct)."""
    columns = dict(zip(batch.schema.names, batch.columns))
    names = _file_names(columns["source_id"].to_pylist(), columns["augmentation_seed"].to_pylist(),
                        columns["augmentation"].to_pylist())
    columns["video"] = pa.StructArray.from_arrays([columns["video"], pa.array(names, pa.string())],
                                                  names=["bytes", "path"])
    return pa.RecordBatch.from_arrays([columns[name] for name in schema.names], schema=schema)


def merge_units(output_dir: str | os.PathLike, *, cleanup_units: bool = False, overwrite: bool = True,
                max_shard_size: int | str = DEFAULT_MAX_SHARD_SIZE) -> datasets.Dataset:
    """Merge every finished unit of ``output_dir`` into Parquet shards ``output_dir/data/train-*.parquet`` with their
    dataset card ``output_dir/README.md``, and write ``skipped.jsonl``; return the dataset (``load_dataset``).

    Units are concatenated in id order, which is ``(source_id, augmentation_seed)`` order; a shard is closed once it
    holds ``max_shard_size`` bytes. The shards are written in a temporary folder and renamed into place before the
    card is written, so ``output_dir/data`` is complete whenever the card exists. Memory use is bounded: units are
    streamed one record batch at a time. With ``overwrite=False`` an existing merged dataset (e.g. from another shard
    that finished at the same time) is kept as is. Raises ``RuntimeError`` listing the missing units.
    """
    from .card import write_dataset_card

    output_dir = Path(output_dir)
    final = output_dir / DATA_DIR
    if not overwrite and is_merged(output_dir):
        return load_prepared_dataset(output_dir)
    shard_bytes = _size_in_bytes(max_shard_size)
    config = _read_config(output_dir)
    num_units = int(config["num_units"])
    units_dir = output_dir / UNITS_DIR
    missing = sorted(set(range(num_units)) - _finished_units(units_dir))
    if missing:
        raise RuntimeError(_missing_units_message(output_dir, missing, num_units))
    unit_schema = unit_features(config["class_names"], config["extra_columns"]).arrow_schema
    schema = dataset_features(config["class_names"], config["extra_columns"]).arrow_schema  # + the features metadata
    staged = output_dir / f".{DATA_DIR}-{socket.gethostname()}-{os.getpid()}"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    skipped: list[dict[str, str]] = []
    shards: list[Path] = []
    writer, written, rows = None, 0, 0
    try:
        for unit_id in range(num_units):
            with pa.memory_map(str(_unit_path(units_dir, unit_id))) as source:
                reader = pa.ipc.open_stream(source)
                meta = reader.schema.metadata or {}
                skipped.extend(json.loads(meta.get(_SKIPPED_METADATA_KEY, b"[]")))
                if reader.schema.remove_metadata() != unit_schema.remove_metadata():
                    raise ValueError(
                        f"unit {unit_id} of {str(output_dir)!r} has schema {reader.schema.remove_metadata()} "
                        f"instead of {unit_schema.remove_metadata()}"
                    )
                for batch in reader:
                    if not batch.num_rows:
                        continue
                    if writer is None:
                        shards.append(staged / f"shard-{len(shards):05d}.parquet")
                        writer, written = pq.ParquetWriter(str(shards[-1]), schema), 0
                    per_row = max(1, batch.nbytes // batch.num_rows)
                    writer.write_batch(_to_dataset_batch(batch, schema),
                                       row_group_size=max(1, _MAX_ROW_GROUP_BYTES // per_row))
                    written += batch.nbytes
                    rows += batch.num_rows
                    if written >= shard_bytes:
                        writer.close()
                        writer = None
        if writer is not None:
            writer.close()
            writer = None
        if not shards:  # every video was skipped: one empty shard, so that the dataset still loads
            shards.append(staged / "shard-00000.parquet")
            pq.write_table(schema.empty_table(), str(shards[-1]))
        for i, shard in enumerate(shards):
            shard.rename(staged / f"train-{i:05d}-of-{len(shards):05d}.parquet")
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
        write_dataset_card(output_dir)
    finally:
        if writer is not None:
            writer.close()
        shutil.rmtree(staged, ignore_errors=True)
    logger.info("merged %d units into %s: %d rows in %d Parquet shard(s), %d skipped videos", num_units, final, rows,
                len(shards), len(skipped))
    if cleanup_units:
        shutil.rmtree(units_dir, ignore_errors=True)
    return load_prepared_dataset(output_dir)
