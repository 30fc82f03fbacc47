"""Stable seeds: the augmentation seeds of every video, and the hash all seeds of this package derive from."""

from __future__ import annotations

import hashlib
from typing import Any

#: ``augmentation_seed`` of the non-augmented (canonical) transcode stored with ``include_original=True``.
ORIGINAL_SEED = -1


def _derive_seed(*parts: Any) -> int:
    """A stable 31-bit seed from ``parts`` (SHA-256; independent of the Python hash seed, platform and process)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def augmentation_seed(seed: int, source_id: str, k: int) -> int:
    """The seed of the ``k``-th augmented encoding of ``source_id`` under base ``seed`` (a non-negative 31-bit int)."""
    return _derive_seed("bytevid-augment", int(seed), source_id, int(k))


def augmentation_seeds(seed: int, source_id: str, num: int) -> list[int]:
    """``num`` distinct seeds for one video: ``augmentation_seed(seed, source_id, k)``, re-drawn on the (unlikely)
    collision so that ``(source_id, augmentation_seed)`` identifies a row."""
    seeds: list[int] = []
    for k in range(num):
        s, attempt = augmentation_seed(seed, source_id, k), 0
        while s in seeds:
            attempt += 1
            s = _derive_seed("bytevid-augment", int(seed), source_id, k, attempt)
        seeds.append(s)
    return seeds

