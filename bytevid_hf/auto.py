"""Registration of the bytevid models with transformers' Auto classes.

Called once by ``import bytevid_hf``; registering again is a no-op. It adds this package's own model types and
nothing else — no other model's classes, pipelines or name tables change:

* ``model_type="bytevid"``: ``AutoConfig`` → :class:`BytesVideoConfig`; ``AutoModel`` → :class:`BytesVideoModel`,
  ``AutoModelForVideoClassification`` → :class:`BytesVideoForClassification`, ``AutoModelForCausalLM`` →
  :class:`BytesVideoForCausalLM` (next-byte pre-training); ``AutoVideoProcessor`` → :class:`BytesVideoProcessor`.
* ``model_type="bytevid_gemma"`` (video QA): ``AutoConfig`` → :class:`BytesVideoGemmaConfig`; ``AutoModel`` and
  ``AutoModelForMultimodalLM`` → :class:`BytesVideoGemmaForQA`; ``AutoProcessor`` → :class:`BytesVideoQAProcessor`
  and ``AutoVideoProcessor`` → :class:`BytesVideoProcessor`.

transformers' ``pipeline("video-classification", model=...)`` runs bytevid models as it is; the pipeline with
per-input errors, ``on_error="skip"`` and streaming of long videos is opted into with
``pipeline_class=BytesVideoClassificationPipeline`` (:mod:`bytevid_hf.pipelines`).
"""

from __future__ import annotations


def register_auto_classes() -> None:
    """Register the bytevid configs, models and processors with the Auto classes (idempotent)."""
    from transformers import (
        AutoConfig,
        AutoModel,
        AutoModelForCausalLM,
        AutoModelForMultimodalLM,
        AutoModelForVideoClassification,
        AutoProcessor,
        AutoVideoProcessor,
    )

    from .modeling import (
        BytesVideoConfig,
        BytesVideoForCausalLM,
        BytesVideoForClassification,
        BytesVideoGemmaConfig,
        BytesVideoGemmaForQA,
        BytesVideoModel,
    )
    from .processing import BytesVideoProcessor, BytesVideoQAProcessor

    AutoConfig.register(BytesVideoConfig.model_type, BytesVideoConfig, exist_ok=True)
    AutoModel.register(BytesVideoConfig, BytesVideoModel, exist_ok=True)
    AutoModelForVideoClassification.register(BytesVideoConfig, BytesVideoForClassification, exist_ok=True)
    AutoModelForCausalLM.register(BytesVideoConfig, BytesVideoForCausalLM, exist_ok=True)
    AutoVideoProcessor.register(BytesVideoConfig, BytesVideoProcessor, exist_ok=True)

    AutoConfig.register(BytesVideoGemmaConfig.model_type, BytesVideoGemmaConfig, exist_ok=True)
    AutoModel.register(BytesVideoGemmaConfig, BytesVideoGemmaForQA, exist_ok=True)
    AutoModelForMultimodalLM.register(BytesVideoGemmaConfig, BytesVideoGemmaForQA, exist_ok=True)
    AutoVideoProcessor.register(BytesVideoGemmaConfig, BytesVideoProcessor, exist_ok=True)
    AutoProcessor.register(BytesVideoGemmaConfig, BytesVideoQAProcessor, exist_ok=True)


__all__ = ["register_auto_classes"]
