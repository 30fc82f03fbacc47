"""bytevid_hf: video understanding from encoded bytes with a multilevel Mamba state-space model.

``import bytevid_hf`` registers the config, models and processor with transformers' Auto classes, so
``AutoModel.from_pretrained``, ``AutoModelForVideoClassification``, ``AutoVideoProcessor`` and
``pipeline("video-classification")`` work on saved bytevid checkpoints.
"""

from .modeling import PRESET_LEARNING_RATES, PRESETS, BytesVideoConfig
from .modeling import BytesVideoGemmaConfig
from .modeling import (
    BytesVideoCausalLMOutput,
    BytesVideoClassifierOutput,
    BytesVideoForCausalLM,
    BytesVideoForClassification,
    BytesVideoForRGBReconstruction,
    BytesVideoGemmaCausalLMOutput,
    BytesVideoGemmaForQA,
    BytesVideoModel,
    BytesVideoModelOutput,
    BytesVideoPreTrainedModel,
    BytesVideoRGBReconstructionOutput,
)
from .processing import (
    CANONICAL_SETTINGS,
    BytesVideoProcessor,
    BytesVideoQAProcessor,
    VideoAugmenter,
    read_video_bytes,
    transcode_video,
)
from .auto import register_auto_classes
from .auto_qa import register_qa_auto_classes

register_auto_classes()
register_qa_auto_classes()

__version__ = "0.1.0"


def __getattr__(name):  # training helpers load transformers' Trainer machinery only when asked for
    if name in ("SequenceParallelCallback", "TimeBudgetCallback"):
        from . import callbacks

        return getattr(callbacks, name)
    raise AttributeError(f"module 'bytevid_hf' has no attribute {name!r}")

__all__ = [
    "BytesVideoConfig",
    "BytesVideoCausalLMOutput",
    "BytesVideoForCausalLM",
    "BytesVideoClassifierOutput",
    "BytesVideoForClassification",
    "BytesVideoForRGBReconstruction",
    "BytesVideoGemmaCausalLMOutput",
    "BytesVideoGemmaConfig",
    "BytesVideoGemmaForQA",
    "BytesVideoQAProcessor",
    "BytesVideoRGBReconstructionOutput",
    "BytesVideoModel",
    "BytesVideoModelOutput",
    "BytesVideoPreTrainedModel",
    "BytesVideoProcessor",
    "CANONICAL_SETTINGS",
    "PRESETS",
    "PRESET_LEARNING_RATES",
    "SequenceParallelCallback",
    "TimeBudgetCallback",
    "VideoAugmenter",
    "read_video_bytes",
    "register_auto_classes",
    "register_qa_auto_classes",
    "transcode_video",
]
