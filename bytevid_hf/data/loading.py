"""Video datasets for training, the ``datasets`` way: local folders, ``load_dataset`` names, saved and prepared data.

Every loader returns rows whose video is something the processor and collators read as it is — a
``datasets.Video(decode=False)`` value (``{"bytes": ..., "path": ...}``: the embedded file, or the path of a file
read when the batch is made) or, for older saved datasets, a binary column of the file bytes. Decoding ``Video``
columns (``datasets.Video()``, which would decode frames with torchcodec) are cast to ``Video(decode=False)``: the
byte models read the encoded file, never frames.

* :func:`load_video_folder` — ``root/<class>/**/<video>`` as an in-memory dataset of *paths*: nothing is copied into
  the datasets cache and nothing is cached, so a video edited in place is read anew by the next run.
* :func:`load_video_dataset` — anything else: a Hub dataset id, a local dataset folder (Parquet, e.g. a
  ``scripts/prepare_data.py`` output, whose dataset card names its files), a builder such as ``"videofolder"`` (with
  ``data_dir``), or a ``save_to_disk`` folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import datasets

from .sources import VIDEO_EXTENSIONS, walk_class_folders


def encoded_video_features(features: datasets.Features) -> datasets.Features:
    """``features`` with every ``Video`` feature (at the top level) set to ``Video(decode=False)``."""
    return datasets.Features({
        name: datasets.Video(decode=False) if isinstance(feature, datasets.Video) else feature
        for name, feature in features.items()
    })


def as_encoded_videos(data):
    """Cast the decoding ``Video`` columns of a ``Dataset`` / ``DatasetDict`` (or their iterable versions) to
    ``Video(decode=False)``, so that rows hold the encoded file (``{"bytes", "path"}``) instead of a frame decoder."""
    if isinstance(data, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        return type(data)({split: as_encoded_videos(part) for split, part in data.items()})
    features = data.features
    if features is None:
        return data
    for name, feature in features.items():
        if isinstance(feature, datasets.Video) and feature.decode:
            data = data.cast_column(name, datasets.Video(decode=False))
    return data


def load_video_folder(root: str | os.PathLike, extensions: tuple[str, ...] = VIDEO_EXTENSIONS) -> datasets.Dataset:
    """``root/<class_name>/**/<video>`` as a ``datasets.Dataset`` of video *paths*.

    Columns: ``video`` (``Video(decode=False)``: ``{"bytes": None, "path": <absolute path>}``; the processor reads the
    file when a batch is made), ``label`` (``ClassLabel`` named after the subfolders, sorted) and ``path``. The
    dataset lives in memory and holds only paths: no video is copied into the datasets cache, and a video edited in
    place is read anew (``load_dataset("videofolder", data_dir=root)`` behaves the same for a one-level tree and also
    works; this loader also accepts nested subfolders). Raises ``FileNotFoundError``/``ValueError`` naming the folder
    when it is missing or holds no videos.
    """
    class_names, files = walk_class_folders(root, extensions)
    paths = [os.path.abspath(path) for path, _ in files]
    features = datasets.Features({"video": datasets.Video(decode=False),
                                  "label": datasets.ClassLabel(names=class_names),
                                  "path": datasets.Value("string")})
    return datasets.Dataset.from_dict(
        {"video": paths, "label": [label for _, label in files], "path": paths},
        features=features,
    )


def _is_saved_to_disk(path: Path) -> bool:
    return (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()


def load_video_dataset(
    name_or_path: str | os.PathLike,
    *,
    config: str | None = None,
    data_dir: str | None = None,
    split: str | None = None,
    revision: str | None = None,
    **load_kwargs: Any,
):
    """A video dataset for training, rows as the processor reads them (decoding ``Video`` columns cast to
    ``Video(decode=False)``).

    Args:
        name_or_path: a Hub dataset id (``"user/videos"``), a local dataset folder that ``datasets.load_dataset``
            reads (Parquet/CSV/JSON files or a folder with a dataset card, e.g. a ``scripts/prepare_data.py``
            output), a builder name (``"videofolder"``, with ``data_dir``), or a ``save_to_disk`` folder (loaded with
            ``load_from_disk``; ``config``/``data_dir``/``revision`` do not apply).
        config: the dataset's configuration name.
        data_dir, revision, **load_kwargs: passed to ``datasets.load_dataset``.
        split: one split (a ``Dataset``); ``None`` gives every split (a ``DatasetDict``).
    """
    path = Path(name_or_path)
    if path.is_dir() and _is_saved_to_disk(path):
        if config is not None or data_dir is not None or revision is not None:
            raise ValueError(f"{str(path)!r} is a dataset saved with save_to_disk: config, data_dir and revision do "
                             "not apply to it")
        data = datasets.load_from_disk(str(path))
        if split is not None and isinstance(data, datasets.DatasetDict):
            if split not in data:
                raise ValueError(f"dataset {str(path)!r} has no split {split!r}; splits: {list(data)}")
            data = data[split]
    else:
        from .layout import CONFIG_NAME, load_prepared_dataset

        if path.is_dir() and (path / CONFIG_NAME).is_file() and config is None and data_dir is None:
            data = load_prepared_dataset(path)  # also reads outputs of the earlier save_to_disk format
            if split is None:
                data = datasets.DatasetDict({"train": data})
            elif split != "train":
                raise ValueError(f"a prepared dataset has one split, 'train'; got split={split!r}")
        else:
            data = datasets.load_dataset(str(name_or_path), config, data_dir=data_dir, split=split,
                                         revision=revision, **load_kwargs)
    return as_encoded_videos(data)


def is_hub_dataset_id(name: str | None) -> bool:
    """Whether ``name`` looks like a Hub dataset id (``owner/name``) rather than a local path or a builder name."""
    if not name or os.path.exists(name):
        return False
    parts = str(name).split("/")
    return len(parts) == 2 and all(parts) and not str(name).startswith((".", "/", "~"))


__all__ = ["as_encoded_videos", "encoded_video_features", "is_hub_dataset_id", "load_video_dataset",
           "load_video_folder"]
