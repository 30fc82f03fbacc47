"""Training on videos longer than one step can hold: consecutive sub-sequences with state carry (truncated BPTT).

Paper, appendix A.2 ("Training on even longer sequences"): a video is cut into K consecutive sub-sequences; each runs
from the state the previous one ended in (the model's ``cache``, detached: truncated backpropagation through time),
computes its loss scaled by 1/K, and accumulates gradients; one optimizer step per video. The model's output for a
piece is that of everything seen so far (the cache carries the running mean pool and the open pooling windows), so
the last piece's loss is the whole video's. Activation memory is that of one sub-sequence; the state carried between
them is O(B·E·N) per layer. Combined with sequence parallelism each sub-sequence is further sharded across ranks.

The state goes in and out explicitly: :func:`train_with_state_carry` and :class:`SubsequenceTrainer` pass each piece
the cache the previous one returned; nothing is stored on the model.
"""

from __future__ import annotations

import torch
from torch.utils.data import IterableDataset
from .trainer import BytesVideoTrainer


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

    Every byte must be real (each piece continues the previous one's state): batch videos of exactly equal length,
    or use batch size 1 for long videos."""
    if attention_mask is not None and not bool(attention_mask.bool().all()):
        lengths = attention_mask.bool().sum(1).tolist()
        raise ValueError(
            f"state carry needs every byte of the batch to be real, but the rows hold {lengths} real bytes of "
            f"{input_ids.shape[1]}: batch videos of equal length, or use batch size 1"
        )
    mask = torch.ones_like(input_ids, dtype=torch.bool)
    return [
        (input_ids[:, start:end], mask[:, start:end])
        for start, end in subsequence_bounds(input_ids.shape[1], num_subsequences, align)
    ]


def train_with_state_carry(model, input_ids, attention_mask, labels, num_subsequences: int) -> float:
    """One video batch, K sub-sequences, gradients accumulated into ``.grad`` (no optimizer step). Each piece starts
    from the (detached) cache the previous one returned. Returns the loss (the sum of the K scaled sub-sequence
    losses). Works with sequence parallelism enabled."""
    config = model.config
    cache, total = None, 0.0
    for ids, mask in split_subsequences(input_ids, attention_mask, num_subsequences, config.total_pool_factor):
        outputs = model(ids, attention_mask=mask, labels=labels, cache=cache, use_cache=True)
        loss = outputs.loss / num_subsequences
        loss.backward()
        cache = outputs.cache.detach()
        total += float(loss.detach())
    return total


class SubsequenceTrainer(BytesVideoTrainer):
    """``Trainer`` for :class:`SubsequenceDataset`: each micro-batch continues the state the previous one ended in.

    With ``per_device_train_batch_size=1`` and ``gradient_accumulation_steps=num_subsequences`` the K micro-batches
    of one optimizer step are the K consecutive pieces of one video. :meth:`compute_loss` passes each piece the cache
    the previous piece returned (detached: truncated backpropagation through time) and starts from an empty state
    where ``subsequence_index == 0`` (a new video). The carried cache is the trainer's, not the model's; it is reset
    at every new video, so checkpoints (written between optimizer steps) never hold a pending state and
    ``resume_from_checkpoint`` reproduces the uninterrupted run. Evaluation and prediction pieces are independent.
    Saving and pushing are :class:`~bytevid_hf.training.trainer.BytesVideoTrainer`'s (card, code, processor).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.carried_cache = None

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        index = inputs.pop("subsequence_index", None)
        if index is None or not model.training:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        starts = torch.as_tensor(index).flatten() == 0
        if bool(starts.any()) and not bool(starts.all()):
            raise ValueError(f"subsequence_index {torch.as_tensor(index).tolist()} mixes new videos with continuing "
                             "ones in one batch; every row of a batch must be at the same sub-sequence")
        cache = None if bool(starts.all()) else self.carried_cache
        outputs = model(**inputs, cache=cache, use_cache=True)
        self.carried_cache = None if outputs.cache is None else outputs.cache.detach()
        loss = outputs["loss"]
        return (loss, outputs) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = {key: value for key, value in inputs.items() if key != "subsequence_index"}
        return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)


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
    "SubsequenceTrainer",
    "collate_subsequences",
    "split_subsequences",
    "subsequence_bounds",
    "train_with_state_carry",
]
