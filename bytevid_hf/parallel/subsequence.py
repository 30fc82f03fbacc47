"""Training on videos longer than one step can hold: consecutive sub-sequences with state carry (truncated BPTT).

Paper, appendix A.2 ("Training on even longer sequences"): a video is cut into K consecutive sub-sequences; each runs
from the previous one's final layer states (detached), computes its loss (here: the classification loss of that
sub-sequence's own mean-pooled representation) scaled by 1/K, and accumulates gradients; one optimizer step per video.
Activation memory is that of one sub-sequence; the states carried between them are O(B·E·N) per layer. Combined with
sequence parallelism each sub-sequence is further sharded across ranks.

Boundaries are multiples of ``pool_size ** num_levels`` (as for sequence-parallel shards), so no pooling window
straddles two sub-sequences.
"""

from __future__ import annotations

import torch
from torch.utils.data import IterableDataset


def subsequence_bounds(length: int, num_subsequences: int, align: int) -> list[tuple[int, int]]:
    """[start, end) of ``num_subsequences`` consecutive pieces covering ``length`` positions, every inner boundary a
    multiple of ``align``. Raises ``ValueError`` when the sequence is too short for that many non-empty pieces."""
    if num_subsequences < 1:
        raise ValueError(f"num_subsequences must be >= 1, got {num_subsequences}")
    blocks = -(-length // align)
    if num_subsequences > blocks:
        raise ValueError(
            f"cannot split {length:,} bytes into {num_subsequences} sub-sequences aligned to {align}: at most {blocks}"
        )
    per = -(-blocks // num_subsequences) * align
    bounds = [(start, min(start + per, length)) for start in range(0, length, per)]
    if len(bounds) != num_subsequences:  # ceil rounding left fewer pieces: spread the blocks evenly instead
        edges = [round(i * blocks / num_subsequences) * align for i in range(num_subsequences)] + [length]
        bounds = [(edges[i], min(edges[i + 1], length)) for i in range(num_subsequences)]
    return bounds


def split_subsequences(input_ids: torch.Tensor, attention_mask: torch.Tensor | None, num_subsequences: int, align: int):
    """Cut a (B, L) batch into ``num_subsequences`` aligned pieces ``[(ids, mask), ...]``.

    Every row must have at least one real byte in every piece (the model rejects all-padding rows): batch videos of
    similar length, or use batch size 1 for long videos.
    """
    mask = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    pieces = []
    for index, (start, end) in enumerate(subsequence_bounds(input_ids.shape[1], num_subsequences, align)):
        piece_mask = mask[:, start:end]
        empty = (~piece_mask[:, 0]).nonzero().flatten().tolist()
        if empty:
            raise ValueError(
                f"sub-sequence {index} ([{start}, {end})) holds no real byte of batch row(s) {empty}: those videos are "
                f"shorter than the batch; use fewer sub-sequences or batch videos of similar length"
            )
        pieces.append((input_ids[:, start:end], piece_mask))
    return pieces


def enable_state_carry(model, enabled: bool = True) -> None:
    """Switch the sub-sequence mode of a bytevid model: each training forward starts from the states the previous one
    left (detached). Call :func:`reset_carried_state` before the first sub-sequence of every video."""
    from .sequence_parallel import _encoder

    encoder = _encoder(model)
    encoder.carry_states = enabled
    encoder.carried_states = None


def reset_carried_state(model) -> None:
    """Start the next training forward from zero states (a new video)."""
    from .sequence_parallel import _encoder

    _encoder(model).carried_states = None


def train_with_state_carry(model, input_ids, attention_mask, labels, num_subsequences: int) -> float:
    """One video batch, K sub-sequences, gradients accumulated into ``.grad`` (no optimizer step). Returns the loss
    (the sum of the K scaled sub-sequence losses). Works with sequence parallelism enabled."""
    config = model.config
    pieces = split_subsequences(input_ids, attention_mask, num_subsequences, config.pool_size**config.num_levels)
    was = _state_carry_flags(model)
    enable_state_carry(model, True)
    total = 0.0
    try:
        for ids, mask in pieces:
            loss = model(ids, attention_mask=mask, labels=labels).loss / num_subsequences
            loss.backward()
            total += float(loss.detach())
    finally:
        enable_state_carry(model, was)
    return total


def _state_carry_flags(model) -> bool:
    from .sequence_parallel import _encoder

    return _encoder(model).carry_states


class SubsequenceDataset(IterableDataset):
    """Trainer glue: yields each video's ``num_subsequences`` aligned pieces as consecutive rows, so that with
    ``per_device_train_batch_size=1`` and ``gradient_accumulation_steps=num_subsequences`` one optimizer step sees
    exactly one video, in order. Videos are shuffled per epoch (``seed``); pieces never are.

    ``dataset`` rows hold ``input_ids`` (a 1-D uint8 array/tensor/bytes) and ``labels``. Rows out:
    ``{"input_ids", "attention_mask", "labels", "subsequence_index"}``; ``subsequence_index == 0`` marks a new video.

    Sequence parallelism under Trainer/accelerate: every rank of the group must see the same piece, while the data
    loader hands each process a different row. ``replicas=world_size`` yields every piece that many times in a row,
    so each global batch (one row per process) holds copies of one piece: nothing is skipped or duplicated in training.
    """

    def __init__(
        self, dataset, num_subsequences: int, align: int, shuffle: bool = True, seed: int = 0, replicas: int = 1
    ):
        if replicas < 1:
            raise ValueError(f"SubsequenceDataset: replicas must be >= 1, got {replicas}")
        self.replicas = replicas
        self.dataset = dataset
        self.num_subsequences = num_subsequences
        self.align = align
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset) * self.num_subsequences * self.replicas

    def __iter__(self):
        order = list(range(len(self.dataset)))
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(len(order), generator=generator).tolist()
        for video in order:
            row = self.dataset[video]
            ids = _as_uint8(row["input_ids"])
            for index, (start, end) in enumerate(subsequence_bounds(len(ids), self.num_subsequences, self.align)):
                piece = {
                    "input_ids": ids[start:end],
                    "attention_mask": torch.ones(end - start, dtype=torch.long),
                    "labels": torch.as_tensor(row["labels"]),
                    "subsequence_index": index,
                }
                for _ in range(self.replicas):
                    yield piece


def _as_uint8(value) -> torch.Tensor:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return torch.frombuffer(bytearray(value), dtype=torch.uint8)
    return torch.as_tensor(value).to(torch.uint8).flatten()


def collate_subsequences(rows):
    """Collator for :class:`SubsequenceDataset` rows (pieces of one video have equal length within a batch)."""
    lengths = {len(r["input_ids"]) for r in rows}
    if len(lengths) != 1:
        raise ValueError(f"collate_subsequences: pieces of different lengths {sorted(lengths)}; use batch size 1")
    return {
        "input_ids": torch.stack([r["input_ids"] for r in rows]),
        "attention_mask": torch.stack([r["attention_mask"] for r in rows]),
        "labels": torch.stack([r["labels"] for r in rows]),
        "subsequence_index": torch.tensor([r["subsequence_index"] for r in rows]),
    }


__all__ = [
    "SubsequenceDataset",
    "collate_subsequences",
    "enable_state_carry",
    "reset_carried_state",
    "split_subsequences",
    "subsequence_bounds",
    "train_with_state_carry",
]
