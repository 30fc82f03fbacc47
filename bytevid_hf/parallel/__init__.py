"""Sequence parallelism with state correction (paper Sec. 3.1, Eq. 1–4): one video's bytes sharded across ranks.

Sub-sequence training with state carry (appendix A.2) is training glue: :mod:`bytevid_hf.training.subsequence`."""

from .sequence_parallel import (
    SequenceParallelBytesVideoModel,
    SequenceParallelContext,
    SequenceParallelError,
    average_sequence_parallel_gradients,
    disable_sequence_parallel,
    enable_sequence_parallel,
    sequence_parallel_context,
    set_group_timeout,
    shard_bounds,
)

__all__ = [
    "SequenceParallelBytesVideoModel",
    "SequenceParallelContext",
    "SequenceParallelError",
    "average_sequence_parallel_gradients",
    "disable_sequence_parallel",
    "enable_sequence_parallel",
    "sequence_parallel_context",
    "set_group_timeout",
    "shard_bounds",
]
