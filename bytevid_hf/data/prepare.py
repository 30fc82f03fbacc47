"""prepare_dataset: the resumable, parallel, shardable offline preparation of an augmented dataset."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets

from .encode import _accepts_name, _Plan, _run_units
from .layout import (
    CONFIG_NAME,
    UNITS_DIR,
    _check_or_write_config,
    _finished_units,
    is_merged,
    load_prepared_dataset,
    unit_features,
)
from .merge import DEFAULT_MAX_SHARD_SIZE, _missing_units_message, merge_units
from .sources import VideoListing, list_dataset, list_video_folder, read_manifest
from .units import WorkUnit, build_work_units

logger = logging.getLogger(__name__)

_FORMAT_VERSION = 1
# Transcoding settings of the original (non-augmented) encoding, taken from the augmenter's settings.
_TRANSCODE_KEYS = ("codec", "container", "size", "bitrate", "fps", "keep_audio", "max_seconds", "encoder_options")


def _augmenter_settings(augmenter: Any) -> dict[str, Any]:
    to_dict = getattr(augmenter, "to_dict", None)
    if callable(to_dict):
        settings = to_dict()
    else:
        settings = {"augmenter": f"{type(augmenter).__module__}.{type(augmenter).__qualname__}"}
    try:
        return json.loads(json.dumps(settings, sort_keys=True))
    except TypeError as e:
        raise TypeError(f"augmenter.to_dict() must return JSON-serialisable settings: {e}") from e



def prepare_dataset(
    output_dir: str | os.PathLike,
    *,
    video_dir: str | os.PathLike | None = None,
    manifest: str | os.PathLike | None = None,
    dataset: datasets.Dataset | None = None,
    listing: VideoListing | None = None,
    video_column: str = "video",
    label_column: str = "label",
    augmenter: Any = None,
    num_augmentations: int = 4,
    include_original: bool = False,
    seed: int = 0,
    num_proc: int = 1,
    videos_per_unit: int = 16,
    num_shards: int = 1,
    shard_index: int = 0,
    merge: bool | None = None,
    skip_bad: bool = False,
    class_names: Sequence[str] | None = None,
    original_settings: dict[str, Any] | None = None,
    cleanup_units: bool = False,
    progress: bool = True,
    max_shard_size: int | str = DEFAULT_MAX_SHARD_SIZE,
    input_description: dict[str, Any] | None = None,
) -> datasets.Dataset | None:
    """Write ``num_augmentations`` augmented encodings of every input video into ``output_dir`` (resumable).

    Args:
        output_dir: where units, the config and the merged dataset go (see the package docstring for the layout).
        video_dir / manifest / dataset / listing: the input — exactly one: a folder of class subfolders, a CSV/JSONL
            manifest (:func:`read_manifest`), a ``datasets.Dataset`` (one split, e.g. from ``load_dataset``; its
            ``video_column`` and ``label_column``, see :func:`list_dataset`) or an already built
            :class:`VideoListing`.
        augmenter: ``augmenter(video_bytes, seed) -> bytes``, deterministic in ``seed``, with ``to_dict()`` giving
            its JSON settings (default: ``VideoAugmenter()``, the paper's canonical output format).
        num_augmentations: K, augmented encodings per video (seeds from ``(seed, source_id, k)``).
        include_original: also store the non-augmented transcode (``transcode_video`` with the augmenter's output
            format, or ``original_settings``) under ``augmentation_seed = -1``.
        seed: base seed; the same inputs and settings always give identical rows.
        num_proc: worker processes (a pool over units).
        videos_per_unit: videos per unit (the granularity of resuming and sharding).
        num_shards, shard_index: process only units with ``unit_id % num_shards == shard_index``.
        merge: ``None`` (default) merges when every unit of every shard exists; ``False`` never merges;
            ``True`` requires the merge (raises if units are missing).
        skip_bad: log and skip videos that cannot be read/decoded/augmented (listed in ``skipped.jsonl``) instead of
            raising :class:`BadVideoError`.
        class_names: label order for a manifest (default: inferred, see :func:`read_manifest`).
        original_settings: ``transcode_video`` keyword arguments for the original encoding.
        cleanup_units: delete ``units/`` after a successful merge.
        progress: show a tqdm bar.
        max_shard_size: bytes per Parquet shard of the merged dataset (``"500MB"``, as ``datasets``' push_to_hub).
        input_description: JSON-able description of the input, stored in the config for information (e.g. the Hub
            dataset name of ``dataset``).

    Returns:
        The merged ``datasets.Dataset`` (Parquet shards with a ``Video`` column and a dataset card in
        ``output_dir``: ``load_dataset(output_dir)``), or ``None`` when units of other shards are still missing (or
        ``merge=False``). A folder that already holds a merged dataset is returned as is, without re-encoding.
    """
    output_dir = Path(output_dir)
    if sum(x is not None for x in (video_dir, manifest, dataset, listing)) != 1:
        raise ValueError("pass exactly one input: video_dir (class subfolders), manifest (CSV/JSONL), dataset "
                         "(a datasets.Dataset) or listing")
    for name, value, minimum in (("num_augmentations", num_augmentations, 0), ("num_proc", num_proc, 1),
                                 ("num_shards", num_shards, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    if isinstance(shard_index, bool) or not isinstance(shard_index, int) or not 0 <= shard_index < num_shards:
        raise ValueError(f"shard_index must be an int in [0, num_shards={num_shards}), got {shard_index!r}")
    if num_augmentations == 0 and not include_original:
        raise ValueError("nothing to encode: num_augmentations is 0 and include_original is False")

    if dataset is not None:
        listing = list_dataset(dataset, video_column=video_column, label_column=label_column, class_names=class_names)
    elif listing is None:
        listing = list_video_folder(video_dir) if video_dir is not None else read_manifest(manifest, class_names)
    if augmenter is None:
        from ..processing.augment import VideoAugmenter

        augmenter = VideoAugmenter()
    settings = _augmenter_settings(augmenter)
    if include_original and original_settings is None:
        original_settings = {k: settings[k] for k in _TRANSCODE_KEYS if k in settings}
    if not include_original:
        original_settings = None
    elif original_settings is not None:
        original_settings = json.loads(json.dumps(original_settings, sort_keys=True))

    units = build_work_units(listing.records, videos_per_unit)
    config = {
        "format_version": _FORMAT_VERSION,
        "seed": int(seed),
        "num_augmentations": num_augmentations,
        "include_original": bool(include_original),
        "original_settings": original_settings,
        "augmentation": settings,
        "videos_per_unit": videos_per_unit,
        "num_units": len(units),
        "num_videos": len({r.source_id for r in listing.records}),
        "num_records": len(listing.records),
        "class_names": list(listing.class_names),
        "extra_columns": list(listing.extra_columns),
        "listing_fingerprint": listing.fingerprint(),
        "input": {"video_dir": None if video_dir is None else str(video_dir),
                  "manifest": None if manifest is None else str(manifest),
                  **({"dataset": input_description or listing.root} if dataset is not None else {})},
    }
    if is_merged(output_dir) and (output_dir / CONFIG_NAME).is_file():
        _check_or_write_config(output_dir, config)
        logger.info("%s already holds the merged dataset; nothing to do", output_dir)
        return load_prepared_dataset(output_dir)

    if not skip_bad:  # fail fast, before hours of encoding, on files that are not there at all
        absent = [r for r in listing.records if r.row is None and not os.path.isfile(r.path)]
        if absent:
            shown = ", ".join(repr(r.path) for r in absent[:5])
            raise FileNotFoundError(
                f"{len(absent)} input video(s) do not exist or are not files: {shown}"
                f"{' ...' if len(absent) > 5 else ''}. Pass --skip_bad (skip_bad=True) to skip them."
            )

    units_dir = output_dir / UNITS_DIR
    units_dir.mkdir(parents=True, exist_ok=True)
    _check_or_write_config(output_dir, config)

    mine = [u for u in units if u.unit_id % num_shards == shard_index]
    done = _finished_units(units_dir)
    pending = [u for u in mine if u.unit_id not in done]
    pending_ids = {u.unit_id for u in pending}
    for p in units_dir.glob(".unit-*.arrow.tmp-*"):  # leftovers of a killed run of this shard
        uid = p.name[len(".unit-"):].split(".", 1)[0]
        if uid.isdigit() and int(uid) in pending_ids:
            p.unlink(missing_ok=True)

    per_video = num_augmentations + bool(include_original)

    def encodings(us: list[WorkUnit]) -> int:
        return sum(len(u.source_ids) for u in us) * per_video

    logger.info(
        "%d videos -> %d units (shard %d/%d: %d units, %d already done); %d encodings per video",
        config["num_videos"], len(units), shard_index, num_shards, len(mine), len(mine) - len(pending), per_video,
    )
    plan = _Plan(
        augmenter=augmenter,
        augmentation_json=json.dumps(settings, sort_keys=True),
        original_settings=original_settings,
        num_augmentations=num_augmentations,
        seed=int(seed),
        skip_bad=skip_bad,
        extra_columns=tuple(listing.extra_columns),
        schema=unit_features(listing.class_names, listing.extra_columns).arrow_schema,
        units_dir=str(units_dir),
        pass_name=_accepts_name(augmenter),
        dataset=listing.dataset,
        video_column=listing.video_column,
    )
    _run_units(plan, pending, num_proc, progress, total=encodings(mine), initial=encodings(mine) - encodings(pending))

    if merge is False:
        return None
    missing = sorted(set(range(len(units))) - _finished_units(units_dir))
    if missing:
        if merge:
            raise RuntimeError(_missing_units_message(output_dir, missing, len(units)))
        logger.info(
            "shard %d/%d done; %d of %d units (other shards) are still missing; merge later with "
            "scripts/prepare_data.py --merge --output_dir %s", shard_index, num_shards, len(missing), len(units),
            output_dir,
        )
        return None
    return merge_units(output_dir, cleanup_units=cleanup_units, overwrite=False, max_shard_size=max_shard_size)


