"""Registration with transformers' Auto classes and the video-classification pipeline.

Called once by ``import bytevid_hf``; registering again is a no-op. After it:

* ``AutoConfig`` knows ``model_type="bytevid"``;
* ``AutoModel`` → :class:`BytesVideoModel`, ``AutoModelForVideoClassification`` → :class:`BytesVideoForClassification`,
  ``AutoModelForCausalLM`` → :class:`BytesVideoForCausalLM` (next-byte pre-training);
* ``AutoVideoProcessor`` → :class:`BytesVideoProcessor`;
* transformers' own ``pipeline("video-classification")`` lists the model as supported (it checks a name table)
  and is implemented by :class:`~bytevid_hf.pipelines.BytesVideoClassificationPipeline` (a subclass that names
  the failing input of a batch and can skip bad inputs; other models behave as before).
"""

from __future__ import annotations

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForVideoClassification,
    AutoVideoProcessor,
)
from transformers.models.auto import modeling_auto

from .modeling.configuration_bytevid import BytesVideoConfig
from .modeling import BytesVideoForCausalLM, BytesVideoForClassification, BytesVideoModel


def register_auto_classes() -> None:
    """Register config, models and processor with the Auto classes (idempotent)."""
    from .processing import BytesVideoProcessor

    AutoConfig.register(BytesVideoConfig.model_type, BytesVideoConfig, exist_ok=True)
    AutoModel.register(BytesVideoConfig, BytesVideoModel, exist_ok=True)
    AutoModelForVideoClassification.register(BytesVideoConfig, BytesVideoForClassification, exist_ok=True)
    AutoModelForCausalLM.register(BytesVideoConfig, BytesVideoForCausalLM, exist_ok=True)
    AutoVideoProcessor.register(BytesVideoConfig, BytesVideoProcessor, exist_ok=True)
    # The pipeline's check_model_type() reads this name table, not the registry; without the entry it logs a
    # spurious "not supported" error for a model it then runs correctly.
    modeling_auto.MODEL_FOR_VIDEO_CLASSIFICATION_MAPPING_NAMES.setdefault(
        BytesVideoConfig.model_type, BytesVideoForClassification.__name__
    )
    # pipeline("video-classification") -> BytesVideoClassificationPipeline: per-input errors, on_error="skip".
    from .pipelines import register_video_classification_pipeline

    register_video_classification_pipeline()


__all__ = ["register_auto_classes"]
