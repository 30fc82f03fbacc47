"""Publishing bytevid checkpoints to the Hugging Face Hub: export, push, Trainer-checkpoint conversion, model cards."""

from .model_card import render_model_card
from .publish import (
    PICKLE_PATTERNS,
    convert_trainer_checkpoint,
    export_checkpoint,
    find_trainer_checkpoint,
    load_checkpoint,
    pickle_files,
    push_adapter,
    push_checkpoint,
    registered_for_auto_classes,
)

__all__ = [
    "PICKLE_PATTERNS",
    "convert_trainer_checkpoint",
    "export_checkpoint",
    "find_trainer_checkpoint",
    "load_checkpoint",
    "pickle_files",
    "push_adapter",
    "push_checkpoint",
    "registered_for_auto_classes",
    "render_model_card",
]
