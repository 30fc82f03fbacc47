"""Registration of the video-QA model (``model_type="bytevid_gemma"``) with transformers' Auto classes.

After :func:`register_qa_auto_classes` (idempotent):

* ``AutoConfig`` knows ``model_type="bytevid_gemma"`` → :class:`BytesVideoGemmaConfig`;
* ``AutoModel`` and ``AutoModelForMultimodalLM`` → :class:`BytesVideoGemmaForQA`;
* ``AutoProcessor`` → :class:`BytesVideoQAProcessor`, and ``AutoVideoProcessor`` → :class:`BytesVideoProcessor` for
  a QA checkpoint (the processor's ``video_processor`` is loaded through it).
"""

from __future__ import annotations


def register_qa_auto_classes() -> None:
    """Register the QA config, model and processors with the Auto classes (idempotent)."""
    from transformers import AutoConfig, AutoModel, AutoModelForMultimodalLM, AutoProcessor, AutoVideoProcessor

    from .modeling.configuration_qa import BytesVideoGemmaConfig
    from .modeling.modeling_qa import BytesVideoGemmaForQA
    from .processing.video_processor import BytesVideoProcessor
    from .processing.processing_qa import BytesVideoQAProcessor

    AutoConfig.register(BytesVideoGemmaConfig.model_type, BytesVideoGemmaConfig, exist_ok=True)
    AutoModel.register(BytesVideoGemmaConfig, BytesVideoGemmaForQA, exist_ok=True)
    AutoModelForMultimodalLM.register(BytesVideoGemmaConfig, BytesVideoGemmaForQA, exist_ok=True)
    AutoVideoProcessor.register(BytesVideoGemmaConfig, BytesVideoProcessor, exist_ok=True)
    AutoProcessor.register(BytesVideoGemmaConfig, BytesVideoQAProcessor, exist_ok=True)


__all__ = ["register_qa_auto_classes"]
