"""Model code of bytevid_hf: the selective scan, Mamba layers, pooling and the PreTrainedModel classes."""

from .mamba import BytesVideoMambaBlock, BytesVideoMambaMixer, BytesVideoRMSNorm, MambaLayerState
from .modeling_bytevid import (
    BytesVideoClassifierOutput,
    BytesVideoForClassification,
    BytesVideoModel,
    BytesVideoModelOutput,
    BytesVideoPreTrainedModel,
)
from .modeling_causal import BytesVideoCausalLMOutput, BytesVideoForCausalLM
from .modeling_qa import BytesVideoGemmaCausalLMOutput, BytesVideoGemmaForQA, BytesVideoGemmaPreTrainedModel
from .modeling_rgb import BytesVideoForRGBReconstruction, BytesVideoRGBReconstructionOutput
from .pooling import BytesVideoPooling
from .scan import cuda_backend_available, selective_scan, selective_scan_reference

__all__ = [
    "BytesVideoCausalLMOutput",
    "BytesVideoClassifierOutput",
    "BytesVideoForCausalLM",
    "BytesVideoForClassification",
    "BytesVideoForRGBReconstruction",
    "BytesVideoGemmaCausalLMOutput",
    "BytesVideoGemmaForQA",
    "BytesVideoGemmaPreTrainedModel",
    "BytesVideoRGBReconstructionOutput",
    "BytesVideoMambaBlock",
    "BytesVideoMambaMixer",
    "BytesVideoModel",
    "BytesVideoModelOutput",
    "BytesVideoPooling",
    "BytesVideoPreTrainedModel",
    "BytesVideoRMSNorm",
    "MambaLayerState",
    "cuda_backend_available",
    "selective_scan",
    "selective_scan_reference",
]
