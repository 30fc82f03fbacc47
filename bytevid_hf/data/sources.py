"""Inputs of a preparation run: video records and listings, read from a class-folder tree or a CSV/JSONL manifest."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


#: Optional question-answering columns a manifest may carry (copied to every encoding of the video).
QA_COLUMNS = ("question", "answer", "choices")


@dataclass(frozen=True)
class VideoRecord:
    """One input row: a video file, its label id and optional question-answering fields."""

    source_id: str  # path relative to the input root (posix separators); identifies the video in the output
    path: str  # where to read the file
    label: int
    question: str | None = None
    answer: str | None = None
    choices: tuple[str, ...] | None = None
    row: int | None = None  # the row of a datasets input (its video is read from there, not from ``path``)


@dataclass
class VideoListing:
    """The inputs of a preparation run: records (sorted by ``source_id``), class names and which QA columns exist."""

    records: list[VideoRecord]
    class_names: list[str]
    extra_columns: tuple[str, ...] = ()
    root: str = ""
    dataset: Any = None  # a datasets input: the Dataset the records' rows index
    video_column: str = "video"

    def fingerprint(self) -> str:
        """Hash of everything that determines the output rows except file locations (which differ between machines)."""
        h = hashlib.sha256()
        h.update(json.dumps({"class_names": self.class_names, "extra_columns": list(self.extra_columns)}).encode())
        for r in self.records:
            row = [r.source_id, r.label, r.question, r.answer, list(r.choices) if r.choices is not None else None]
            h.update(json.dumps(row, ensure_ascii=False).encode())
            h.update(b"\n")
        return h.hexdigest()


VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi")


def walk_class_folders(root: str | os.PathLike, extensions: tuple[str, ...] = VIDEO_EXTENSIONS):
    """``root/<class_name>/**/<video>`` -> (sorted class names, ``[(path, label), ...]`` in class then path order).

    Raises ``FileNotFoundError``/``ValueError`` naming the folder when it is missing or holds no videos.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"video folder {str(root)!r} does not exist or is not a directory")
    class_names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_names:
        raise ValueError(f"video folder {str(root)!r} has no class subfolders (expected root/<class>/<video>)")
    files = [
        (path, label)
        for label, name in enumerate(class_names)
        for path in sorted((root / name).rglob("*"))
        if path.is_file() and path.suffix.lower() in extensions
    ]
    if not files:
        raise ValueError(f"video folder {str(root)!r} holds no files with extensions {extensions}")
    return class_names, files


def _sorted_records(records: Iterable[VideoRecord]) -> list[VideoRecord]:
    return sorted(records, key=lambda r: r.source_id)  # stable: duplicates keep their input order


def list_video_folder(root: str | os.PathLike, extensions: tuple[str, ...] = VIDEO_EXTENSIONS) -> VideoListing:
    """List ``root/<class_name>/**/<video>`` like :func:`bytevid_hf.training.finetune.load_video_folder`, without reading bytes.

    Class names are the sorted subfolder names (label ``i`` = ``class_names[i]``); ``source_id`` is the path relative
    to ``root``. Raises ``FileNotFoundError``/``ValueError`` naming the folder when it is missing or holds no videos.
    """
    root = Path(root)
    class_names, files = walk_class_folders(root, extensions)
    records = [VideoRecord(path.relative_to(root).as_posix(), str(path), label) for path, label in files]
    return VideoListing(_sorted_records(records), class_names, (), str(root))


def _manifest_rows(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of a CSV or JSON Lines manifest (with their 1-based line numbers under ``"__line__"``) and its columns."""
    suffix = path.suffix.lower()
    rows: list[dict[str, Any]] = []
    if suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            columns = [c.strip() for c in reader.fieldnames or []]
            for row in reader:
                clean = {(k or "").strip(): v for k, v in row.items()}
                clean["__line__"] = reader.line_num
                rows.append(clean)
        return rows, columns
    if suffix in (".jsonl", ".ndjson", ".json"):
        columns: list[str] = []
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"manifest {str(path)!r} line {line_no}: invalid JSON ({e.msg})") from e
                if not isinstance(row, dict):
                    raise ValueError(
                        f"manifest {str(path)!r} line {line_no}: expected a JSON object, got {row!r:.80}"
                    )
                columns.extend(k for k in row if k not in columns)
                row["__line__"] = line_no
                rows.append(row)
        return rows, columns
    raise ValueError(f"manifest {str(path)!r}: unsupported extension {suffix!r}; use .csv or .jsonl")


def _int_like(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, np.integer)):
        return value >= 0
    return isinstance(value, str) and value.strip().isdigit()


def read_manifest(manifest: str | os.PathLike, class_names: Sequence[str] | None = None) -> VideoListing:
    """Read a CSV or JSON Lines manifest with columns ``path, label[, question, answer, choices]``.

    * ``path``: absolute, or relative to the manifest's folder. ``source_id`` is the path relative to that folder.
    * ``label``: a class name, or a class index. Without ``class_names`` the classes are the sorted distinct labels,
      or ``"0" .. str(max)`` when every label is a non-negative integer.
    * ``choices``: a list of strings in JSONL, a ``|``-separated string in CSV (or JSONL).
    * ``question``/``answer``: stored as strings (an integer answer in JSONL becomes e.g. ``"2"``).

    Other columns are ignored. The same path may appear on several rows (e.g. several questions about one video):
    it is encoded once per seed and each row gets those encodings.
    """
    manifest = Path(manifest)
    if not manifest.is_file():
        raise FileNotFoundError(f"manifest {str(manifest)!r} does not exist or is not a file")
    rows, columns = _manifest_rows(manifest)
    missing = [c for c in ("path", "label") if c not in columns]
    if missing:
        raise ValueError(f"manifest {str(manifest)!r} has no column(s) {missing}; columns: {columns}")
    if not rows:
        raise ValueError(f"manifest {str(manifest)!r} has no rows")

    def where(row: dict[str, Any]) -> str:
        return f"manifest {str(manifest)!r} line {row['__line__']}"

    for row in rows:
        for key in ("path", "label"):
            value = row.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise ValueError(f"{where(row)}: empty {key!r}")

    labels = [row["label"] for row in rows]
    if class_names is not None:
        class_names = [str(c) for c in class_names]
        if len(set(class_names)) != len(class_names):
            raise ValueError(f"class_names has duplicates: {class_names}")
    elif all(_int_like(v) for v in labels):
        class_names = [str(i) for i in range(max(int(v) for v in labels) + 1)]
    else:
        class_names = sorted({str(v).strip() for v in labels})
    name_to_id = {name: i for i, name in enumerate(class_names)}

    root = manifest.parent.resolve()
    extra = tuple(c for c in QA_COLUMNS if c in columns)
    records = []
    for row in rows:
        value = row["label"]
        if isinstance(value, str) and value.strip() in name_to_id:
            label = name_to_id[value.strip()]
        elif not isinstance(value, str) and str(value) in name_to_id:
            label = name_to_id[str(value)]
        elif _int_like(value) and int(value) < len(class_names):
            label = int(value)
        else:
            raise ValueError(f"{where(row)}: label {value!r} is not one of the classes {class_names}")
        raw = str(row["path"]).strip()
        path = Path(raw) if os.path.isabs(raw) else root / raw
        path = Path(os.path.normpath(path))
        try:
            source_id = path.relative_to(root).as_posix()
        except ValueError:  # outside the manifest's folder: keep the absolute path
            source_id = path.as_posix()
        fields: dict[str, Any] = {}
        for key in ("question", "answer"):
            if key in extra:
                v = row.get(key)
                fields[key] = None if v is None or v == "" else str(v)
        if "choices" in extra:
            choices = row.get("choices")
            if choices is None or choices == "":
                fields["choices"] = None
            elif isinstance(choices, str):
                fields["choices"] = tuple(c.strip() for c in choices.split("|"))
            elif isinstance(choices, list):
                fields["choices"] = tuple(str(c) for c in choices)
            else:
                raise ValueError(f"{where(row)}: choices must be a list or a '|'-separated string, got {choices!r}")
        records.append(VideoRecord(source_id, str(path), label, **fields))
    return VideoListing(_sorted_records(records), list(class_names), extra, str(root))



def _video_paths(data, video_column: str) -> list[str | None]:
    """The file path (or name) of every row's video, read from Arrow without touching embedded bytes."""
    import pyarrow as pa

    paths: list[str | None] = []
    for batch in data.select_columns([video_column]).with_format("arrow").iter(batch_size=1000):
        column = batch.column(video_column)
        if pa.types.is_struct(column.type):
            column = column.combine_chunks().field("path") if column.type.get_field_index("path") >= 0 else None
        elif not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            column = None  # bytes without a name
        paths.extend([None] * batch.num_rows if column is None else column.to_pylist())
    return paths


def list_dataset(data, *, video_column: str = "video", label_column: str = "label",
                 class_names: Sequence[str] | None = None, name: str = "dataset") -> VideoListing:
    """List the rows of a ``datasets.Dataset`` (e.g. ``load_dataset("user/videos", split="train")`` or
    ``load_dataset("videofolder", data_dir=...)``) as the inputs of a preparation run.

    ``video_column`` holds the videos (a ``Video`` feature — cast to ``decode=False`` — bytes or paths); they are read
    from the dataset when their unit is encoded. ``label_column`` is a ``ClassLabel`` (its names are the classes), an
    int column (classes ``"0" .. str(max)``) or a string column (the sorted distinct values; ``class_names`` fixes the
    order). ``question``/``answer``/``choices`` columns are carried over. ``source_id`` is the row index, zero-padded,
    followed by the video's file name when it has one (``"00000012/clip.mp4"``): stable wherever the same dataset is
    loaded, so machines can share the work.
    """
    import datasets as hf_datasets

    from .loading import as_encoded_videos

    if not isinstance(data, hf_datasets.Dataset):
        raise TypeError(f"{name}: expected a datasets.Dataset (one split), got {type(data).__name__}")
    data = as_encoded_videos(data)
    for column in (video_column, label_column):
        if column not in data.column_names:
            raise ValueError(f"{name} has no column {column!r}; columns: {data.column_names}")
    feature = data.features[label_column]
    labels = data[label_column]
    if isinstance(feature, hf_datasets.ClassLabel):
        names = list(feature.names)
        if class_names is not None and list(class_names) != names:
            raise ValueError(f"{name}: class_names {list(class_names)} differ from the ClassLabel names {names}")
    elif all(_int_like(v) for v in labels):
        names = [str(c) for c in class_names] if class_names is not None else \
            [str(i) for i in range(max(int(v) for v in labels) + 1)]
    else:
        names = [str(c) for c in class_names] if class_names is not None else sorted({str(v) for v in labels})
        index = {n: i for i, n in enumerate(names)}
        unknown = sorted({str(v) for v in labels} - set(index))
        if unknown:
            raise ValueError(f"{name}: labels {unknown[:5]} are not among the classes {names}")
        labels = [index[str(v)] for v in labels]
    extra = tuple(c for c in QA_COLUMNS if c in data.column_names)
    qa = data.select_columns(list(extra))[:] if extra else {}
    width = max(8, len(str(len(data))))
    records = []
    for i, (label, path) in enumerate(zip(labels, _video_paths(data, video_column))):
        base = os.path.basename(path) if path else ""
        fields: dict[str, Any] = {}
        for key in ("question", "answer"):
            if key in extra:
                fields[key] = None if qa[key][i] in (None, "") else str(qa[key][i])
        if "choices" in extra:
            fields["choices"] = tuple(str(c) for c in qa["choices"][i]) if qa["choices"][i] else None
        source_id = f"{i:0{width}d}/{base}" if base else f"{i:0{width}d}"
        records.append(VideoRecord(source_id, path or source_id, int(label), row=i, **fields))
    return VideoListing(_sorted_records(records), names, extra, name, dataset=data, video_column=video_column)
