"""Long-context training: sequence parallelism with state correction (paper Sec. 3.1, Eq. 1–4) and sub-sequence
training with state carry (appendix A.2)."""

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
from .subsequence import (
    SubsequenceDataset,
    SubsequenceTrainer,
    collate_subsequences,
    split_subsequences,
    subsequence_bounds,
    train_with_state_carry,
)

__all__ = [
    "SequenceParallelBytesVideoModel",
    "SequenceParallelContext",
    "SequenceParallelError",
    "SubsequenceDataset",
    "SubsequenceTrainer",
    "average_sequence_parallel_gradients",
    "collate_subsequences",
    "disable_sequence_parallel",
    "enable_sequence_parallel",
    "sequence_parallel_context",
    "set_group_timeout",
    "shard_bounds",
    "split_subsequences",
    "subsequence_bounds",
    "train_with_state_carry",
]
