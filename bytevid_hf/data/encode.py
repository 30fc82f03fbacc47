"""Encoding and atomically writing work units, serially or in a process pool (the workers of prepare_dataset)."""

from __future__ import annotations

import inspect
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import torch

from .errors import BadVideoError, _bad_video_exceptions
from .layout import _SKIPPED_METADATA_KEY, SKIPPED_NAME, _temp_prefix, _unit_path
from .seeds import ORIGINAL_SEED, augmentation_seeds
from .sources import VideoRecord
from .units import WorkUnit

logger = logging.getLogger(__name__)

#: Testing hook: seconds to sleep after each finished unit (lets a test kill a run between units).
UNIT_DELAY_ENV = "BYTEVID_PREPARE_UNIT_DELAY"


@dataclass
class _Plan:
    """Everything a worker needs to encode and write a unit."""

    augmenter: Any
    augmentation_json: str
    original_settings: dict[str, Any] | None
    num_augmentations: int
    seed: int
    skip_bad: bool
    extra_columns: tuple[str, ...]
    schema: pa.Schema
    units_dir: str
    pass_name: bool
    dataset: Any = None  # a datasets input: records with a ``row`` read their video from here
    video_column: str = "video"


def _accepts_name(fn: Callable) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "name" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _encode_video(plan: _Plan, record: VideoRecord) -> list[tuple[int, bytes, str]]:
    """``(augmentation_seed, bytes, augmentation_json)`` for every encoding of one video."""
    from ..processing import transcode_video

    if record.row is not None:
        from ..processing import read_video_bytes

        data = read_video_bytes(plan.dataset[record.row][plan.video_column], name=record.source_id).tobytes()
    else:
        data = Path(record.path).read_bytes()
    if not data:
        raise ValueError("the file is empty (0 bytes)")
    out = []
    if plan.original_settings is not None:
        settings = dict(plan.original_settings)
        original_json = json.dumps({"original": True, **settings}, sort_keys=True)
        out.append((ORIGINAL_SEED, transcode_video(data, name=record.path, **settings), original_json))
    kwargs = {"name": record.path} if plan.pass_name else {}
    for s in augmentation_seeds(plan.seed, record.source_id, plan.num_augmentations):
        out.append((s, bytes(plan.augmenter(data, s, **kwargs)), plan.augmentation_json))
    return out


def _encode_unit(plan: _Plan, unit: WorkUnit) -> tuple[pa.Table, list[dict[str, str]]]:
    """Encode every video of ``unit``; return its rows (sorted by source_id, seed) and the skipped videos."""
    columns: dict[str, list] = {name: [] for name in plan.schema.names}
    skipped: list[dict[str, str]] = []
    bad = _bad_video_exceptions()
    i = 0
    while i < len(unit.records):
        group = [unit.records[i]]
        while i + len(group) < len(unit.records) and unit.records[i + len(group)].source_id == group[0].source_id:
            group.append(unit.records[i + len(group)])
        i += len(group)
        first = group[0]
        try:
            encodings = _encode_video(plan, first)
        except bad as e:
            if not plan.skip_bad:
                raise BadVideoError(
                    f"Could not prepare video {first.source_id!r} (file {first.path!r}): {e}. "
                    "Fix or remove the file, or pass --skip_bad (skip_bad=True) to skip bad videos and list them "
                    f"in {SKIPPED_NAME}."
                ) from e
            logger.warning("Skipping bad video %r (file %r): %s", first.source_id, first.path, e)
            skipped.append({"source_id": first.source_id, "path": first.path, "error": f"{type(e).__name__}: {e}"})
            continue
        except Exception as e:  # not a bad-input error: re-raise, but say which video it happened on
            if hasattr(e, "add_note"):
                e.add_note(f"while preparing video {first.source_id!r} (file {first.path!r})")
            raise
        encodings.sort(key=lambda enc: enc[0])
        for record in group:  # several manifest rows of one video share its encodings
            for s, video, aug_json in encodings:
                columns["video"].append(video)
                columns["label"].append(record.label)
                columns["source_id"].append(record.source_id)
                columns["augmentation_seed"].append(s)
                columns["augmentation"].append(aug_json)
                for key in plan.extra_columns:
                    value = getattr(record, key)
                    columns[key].append(list(value) if key == "choices" and value is not None else value)
    # Rows of one source_id: by seed, then input order (the sort is stable).
    ids, seeds = columns["source_id"], columns["augmentation_seed"]
    order = sorted(range(len(ids)), key=lambda j: (ids[j], seeds[j]))
    table = pa.table({name: [columns[name][j] for j in order] for name in plan.schema.names}, schema=plan.schema)
    return table, skipped


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_unit(plan: _Plan, unit_id: int, table: pa.Table, skipped: list[dict[str, str]]) -> Path:
    """Write the unit atomically: a temporary file in the same folder, fsync, then rename onto the final name."""
    final = _unit_path(plan.units_dir, unit_id)
    tmp = final.with_name(f"{_temp_prefix(unit_id)}{socket.gethostname()}-{os.getpid()}")
    metadata = dict(plan.schema.metadata or {})
    metadata[_SKIPPED_METADATA_KEY] = json.dumps(skipped, ensure_ascii=False).encode()
    schema = plan.schema.with_metadata(metadata)
    try:
        with open(tmp, "wb") as f:
            with pa.ipc.new_stream(f, schema) as writer:
                for batch in table.to_batches(max_chunksize=64):
                    writer.write_batch(batch)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(final.parent)
    return final


def _process_unit(plan: _Plan, unit: WorkUnit) -> tuple[int, int, int]:
    """Encode and write one unit; return ``(unit_id, rows, skipped videos)``."""
    table, skipped = _encode_unit(plan, unit)
    _write_unit(plan, unit.unit_id, table, skipped)
    delay = float(os.environ.get(UNIT_DELAY_ENV, "0") or 0)
    if delay > 0:
        time.sleep(delay)
    return unit.unit_id, table.num_rows, len(skipped)


_WORKER_PLAN: _Plan | None = None


def _init_worker(plan: _Plan) -> None:
    global _WORKER_PLAN
    _WORKER_PLAN = plan
    torch.set_num_threads(1)  # parallelism is across units; avoid num_proc x cores threads


def _worker_process_unit(unit: WorkUnit) -> tuple[int, int, int]:
    assert _WORKER_PLAN is not None, "worker not initialised"
    return _process_unit(_WORKER_PLAN, unit)


def _run_units(plan: _Plan, pending: list[WorkUnit], num_proc: int, progress: bool, total: int, initial: int) -> None:
    """Encode and write ``pending`` units, serially or in a process pool, with a progress bar over encodings."""
    if not pending:
        return
    import multiprocessing

    from tqdm.auto import tqdm

    per_unit = {u.unit_id: len(u.source_ids) * (plan.num_augmentations + (plan.original_settings is not None))
                for u in pending}
    pool = None
    if num_proc > 1 and len(pending) > 1:
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        pool = ctx.Pool(min(num_proc, len(pending)), initializer=_init_worker, initargs=(plan,))
        results: Iterator = pool.imap_unordered(_worker_process_unit, pending)
    else:
        results = (_process_unit(plan, u) for u in pending)
    bar = tqdm(total=total, initial=initial, desc="encodings", unit="enc", disable=not progress)
    rows = skipped = 0
    try:
        for unit_id, n_rows, n_skipped in results:
            rows += n_rows
            skipped += n_skipped
            bar.update(per_unit[unit_id])
    except BaseException:
        if pool is not None:
            pool.terminate()
        raise
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
    logger.info("wrote %d units (%d rows, %d videos skipped)", len(pending), rows, skipped)
