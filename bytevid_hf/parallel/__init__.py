"""Long-context training: sequence parallelism with state correction (paper Sec. 3.1, Eq. 1–4) and sub-sequence
training with state carry (appendix A.2)."""

from .sequence_parallel import (
    DEFAULT_ALIGNMENT,
    SequenceParallelContext,
    SequenceParallelError,
    average_sequence_parallel_gradients,
    disable_sequence_parallel,
    enable_sequence_parallel,
    set_group_timeout,
    shard_length,
    shard_sequence,
)
from .state_correction import boundary_states, shard_log_decay, state_correction, state_correction_reference
from .subsequence import (
    SubsequenceDataset,
    collate_subsequences,
    enable_state_carry,
    reset_carried_state,
    split_subsequences,
    subsequence_bounds,
    train_with_state_carry,
)

__all__ = [
    "DEFAULT_ALIGNMENT",
    "SequenceParallelContext",
    "SequenceParallelError",
    "SubsequenceDataset",
    "average_sequence_parallel_gradients",
    "boundary_states",
    "collate_subsequences",
    "disable_sequence_parallel",
    "enable_sequence_parallel",
    "enable_state_carry",
    "reset_carried_state",
    "set_group_timeout",
    "shard_length",
    "shard_log_decay",
    "shard_sequence",
    "split_subsequences",
    "state_correction",
    "state_correction_reference",
    "subsequence_bounds",
    "train_with_state_carry",
]
