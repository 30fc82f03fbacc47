"""Publishing bytevid checkpoints to the Hugging Face Hub: export, push, Trainer-checkpoint conversion, model cards."""

from .model_card import render_model_card
from .publish import (
    PICKLE_PATTERNS,
    auto_classes_for,
    convert_trainer_checkpoint,
    export_checkpoint,
    find_trainer_checkpoint,
    install_push_to_hub,
    load_checkpoint,
    pickle_files,
    push_adapter,
    push_checkpoint,
    push_model,
    registered_for_auto_classes,
    write_checkpoint_card,
)

__all__ = [
    "PICKLE_PATTERNS",
    "auto_classes_for",
    "convert_trainer_checkpoint",
    "export_checkpoint",
    "find_trainer_checkpoint",
    "install_push_to_hub",
    "load_checkpoint",
    "pickle_files",
    "push_adapter",
    "push_checkpoint",
    "push_model",
    "registered_for_auto_classes",
    "render_model_card",
    "write_checkpoint_card",
]
