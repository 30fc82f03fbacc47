"""On-the-fly augmentation: a DataLoader stream and a datasets transform that re-encode every sample when read."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import datasets
import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from ..processing.io import describe_video
from .errors import BadVideoError, _bad_video_exceptions
from .seeds import _derive_seed

logger = logging.getLogger(__name__)


def _to_uint8_tensor(data: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


class AugmentedVideoStream(IterableDataset):
    """Re-encode every sample with a fresh augmentation, every epoch; split across DataLoader workers.

    Yields ``{"input_ids": uint8 tensor [L], "labels": int}`` (``labels`` only when the item has a label; plus
    ``"index"`` with ``return_index=True``). Batch it with
    ``BytesVideoCollator(processor, video_column="input_ids", label_column="labels")``.

    The seed of item ``i`` in epoch ``e`` is a hash of ``(seed, e, i)``: a new augmentation each epoch, the same one
    for the same ``(seed, epoch, index)`` whatever the number of workers. With ``W`` DataLoader workers, worker ``w``
    takes positions ``w, w + W, ...`` of the epoch's order, so each item is yielded exactly once per epoch.
    Call :meth:`set_epoch` before each epoch (``transformers.Trainer`` does); with ``persistent_workers=True`` the
    workers keep the epoch they were started with.

    Args:
        data: a sequence of ``(video, label)`` pairs, of dicts, or a ``datasets.Dataset``; ``video`` is anything the
            augmenter accepts (encoded bytes or a path).
        augmenter: ``augmenter(video, seed) -> bytes`` (e.g. ``VideoAugmenter(...)``).
        seed: base seed.
        video_column, label_column: keys of dict items / dataset columns.
        shuffle: visit the items in a new random order each epoch (from ``(seed, epoch)``).
        skip_bad: warn about and skip items the augmenter rejects (``ValueError``/``OSError``) instead of raising.
        return_index: also yield the item's index.
    """

    def __init__(
        self,
        data: Sequence[Any] | datasets.Dataset,
        augmenter: Callable[..., bytes],
        *,
        seed: int = 0,
        video_column: str = "video",
        label_column: str = "label",
        shuffle: bool = False,
        skip_bad: bool = False,
        return_index: bool = False,
    ):
        super().__init__()
        if not hasattr(data, "__len__") or not hasattr(data, "__getitem__"):
            raise TypeError(f"data must be a sequence or a datasets.Dataset, got {type(data).__name__}")
        self.data = data
        self.augmenter = augmenter
        self.seed = int(seed)
        self.video_column = video_column
        self.label_column = label_column
        self.shuffle = shuffle
        self.skip_bad = skip_bad
        self.return_index = return_index
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose augmentations (and order, with ``shuffle``) the next iteration uses."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.data)

    def sample_seed(self, index: int, epoch: int | None = None) -> int:
        """The augmentation seed of item ``index`` in ``epoch`` (default: the current epoch)."""
        return _derive_seed("bytevid-stream", self.seed, self.epoch if epoch is None else int(epoch), int(index))

    def epoch_order(self, epoch: int | None = None) -> np.ndarray:
        """Indices in the order they are visited in ``epoch`` (before the split across workers)."""
        n = len(self.data)
        if not self.shuffle:
            return np.arange(n)
        epoch = self.epoch if epoch is None else int(epoch)
        return np.random.default_rng([self.seed, epoch, 0x5EED]).permutation(n)

    def _item(self, index: int) -> tuple[Any, Any]:
        item = self.data[index]
        if isinstance(item, dict):
            if self.video_column not in item:
                raise KeyError(f"item {index} has no {self.video_column!r} key (keys: {sorted(item)})")
            return item[self.video_column], item.get(self.label_column)
        if isinstance(item, (tuple, list)) and len(item) == 2:
            return item[0], item[1]
        return item, None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker_id, num_workers = (0, 1) if info is None else (info.id, info.num_workers)
        bad = _bad_video_exceptions()
        for index in self.epoch_order()[worker_id::num_workers]:
            index = int(index)
            video, label = self._item(index)
            try:
                data = self.augmenter(video, self.sample_seed(index))
            except bad as e:
                desc = describe_video(video)
                if not self.skip_bad:
                    raise BadVideoError(f"Could not augment item {index} ({desc}) of the dataset: {e}") from e
                logger.warning("Skipping item %d (%s): %s", index, desc, e)
                continue
            sample: dict[str, Any] = {"input_ids": _to_uint8_tensor(data)}
            if label is not None:
                sample["labels"] = int(label)
            if self.return_index:
                sample["index"] = index
            yield sample


class AugmentTransform:
    """A ``datasets.Dataset.set_transform`` function that replaces ``video_column`` by augmented ``input_ids``.

    Each access draws a new seed from ``(seed, the DataLoader worker's torch seed, access counter, position)``: every
    read of a row (every epoch) gives a fresh augmentation, different workers never repeat each other's seeds, and a
    run is reproducible given ``torch.manual_seed`` and the access order. For seeds tied to ``(epoch, index)`` use
    :class:`AugmentedVideoStream`. Other columns are passed through unchanged.
    """

    def __init__(self, augmenter: Callable[..., bytes], seed: int = 0, video_column: str = "video",
                 output_column: str = "input_ids"):
        self.augmenter = augmenter
        self.seed = int(seed)
        self.video_column = video_column
        self.output_column = output_column
        self._calls = 0

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        if self.video_column not in batch:
            raise KeyError(f"batch has no {self.video_column!r} column (columns: {sorted(batch)})")
        info = get_worker_info()
        worker_seed = 0 if info is None else info.seed
        call = self._calls
        self._calls += 1
        out = {k: v for k, v in batch.items() if k != self.video_column}
        out[self.output_column] = [
            _to_uint8_tensor(self.augmenter(video, _derive_seed("bytevid-transform", self.seed, worker_seed, call, j)))
            for j, video in enumerate(batch[self.video_column])
        ]
        return out


def augment_transform(augmenter: Callable[..., bytes], seed: int = 0, *, video_column: str = "video",
                      output_column: str = "input_ids") -> AugmentTransform:
    """``dataset.set_transform(augment_transform(VideoAugmenter(...)))``: see :class:`AugmentTransform`."""
    return AugmentTransform(augmenter, seed, video_column, output_column)
