"""bytevid_hf: video understanding from encoded bytes with a multilevel Mamba state-space model.

``import bytevid_hf`` registers this package's configs, models and processors with transformers' Auto classes (and
changes nothing else), so ``AutoModel.from_pretrained``, ``AutoModelForVideoClassification``, ``AutoVideoProcessor``
and ``pipeline("video-classification")`` work on saved bytevid checkpoints.

Layout: ``modeling`` (configs and models, the code a checkpoint ships) and ``processing`` (bytes in, tensors out) are
the library transformers loads; ``parallel`` (sequence parallelism), ``training`` (Trainer glue), ``hub``
(publishing), ``data`` (dataset preparation), ``experiments`` (baselines, FLOPs) and ``testing`` build on them.
"""

from .modeling import (
    PRESET_LEARNING_RATES,
    PRESETS,
    BytesVideoCache,
    BytesVideoCausalLMOutput,
    BytesVideoConfig,
    BytesVideoGemmaConfig,
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
from .hub.publish import install_push_to_hub

register_auto_classes()
install_push_to_hub()  # model.push_to_hub: the package's model card and code (bytevid_hf.hub.push_model)

__version__ = "0.1.0"


def __getattr__(name):  # training helpers load transformers' Trainer machinery only when asked for
    if name in ("SequenceParallelCallback", "TimeBudgetCallback"):
        from .training import callbacks

        return getattr(callbacks, name)
    if name == "BytesVideoClassificationPipeline":
        from .pipelines import BytesVideoClassificationPipeline

        return BytesVideoClassificationPipeline
    raise AttributeError(f"module 'bytevid_hf' has no attribute {name!r}")

__all__ = [
    "BytesVideoCache",
    "BytesVideoClassificationPipeline",
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
    "transcode_video",
]
