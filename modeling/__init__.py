"""Model code of bytevid_hf: configurations, the selective scan, Mamba layers, pooling and the PreTrainedModel classes.

Every module here imports only from this folder (same-folder relative imports), so transformers' remote-code machinery
(``register_for_auto_class`` + ``save_pretrained``) can copy exactly the files a model needs.
"""

from .cache import BytesVideoCache
from .configuration_bytevid import MIXER_TYPES, POOLING_METHODS, PRESET_LEARNING_RATES, PRESETS, SSM_BACKENDS, BytesVideoConfig
from .configuration_qa import BytesVideoGemmaConfig
from .mamba import BytesVideoMambaBlock, BytesVideoMambaMixer, BytesVideoRMSNorm, MambaLayerState
from .mixers import MIXERS, require_capability
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
from .scan import SCAN_BACKENDS, resolve_scan_backend, selective_scan, selective_scan_reference

__all__ = [
    "BytesVideoCache",
    "BytesVideoCausalLMOutput",
    "BytesVideoClassifierOutput",
    "BytesVideoConfig",
    "BytesVideoForCausalLM",
    "BytesVideoForClassification",
    "BytesVideoForRGBReconstruction",
    "BytesVideoGemmaCausalLMOutput",
    "BytesVideoGemmaConfig",
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
    "MIXERS",
    "MIXER_TYPES",
    "MambaLayerState",
    "POOLING_METHODS",
    "PRESETS",
    "PRESET_LEARNING_RATES",
    "SCAN_BACKENDS",
    "SSM_BACKENDS",
    "require_capability",
    "resolve_scan_backend",
    "selective_scan",
    "selective_scan_reference",
]
