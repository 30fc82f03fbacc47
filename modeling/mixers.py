"""The mixer registry: which sequence mixer each ``config.mixer_type`` builds, and what it supports.

Every backbone variant of the paper (Tables 9 and 15) is one entry. An entry names the module that builds its blocks
(``build_block(config, level, width)``; ``build_stem`` / ``build_pooler`` where the variant replaces the byte stem or
the pooling between levels) and declares its capabilities, which the models check in one place
(:func:`require_capability`):

* ``stateful`` — its blocks take and return a recurrent state, so the model supports streaming (``cache`` /
  ``use_cache`` / ``stream()``), sub-sequence state carry and sequence parallelism;
* ``next_byte`` — :class:`~.modeling_causal.BytesVideoForCausalLM` may use it (every level causal in its bytes).

The ablation mixers (``ablation_*.py``) are imported only when a config asks for them, so a checkpoint of the
multilevel Mamba model ships (and runs) only the Mamba code.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

CAPABILITIES = ("stateful", "next_byte")


@dataclass(frozen=True)
class MixerSpec:
    name: str
    module: str  # module of this package holding build_block (and build_stem / build_pooler when it replaces them)
    stateful: bool
    next_byte: bool
    description: str


MIXERS: dict[str, MixerSpec] = {
    spec.name: spec
    for spec in (
        MixerSpec("mamba", "mamba", True, True, "the multilevel SSM: Mamba blocks at every level"),
        MixerSpec("mamba_flat", "mamba", True, False, "one level of Mamba blocks, no pooling (Table 9 baseline)"),
        MixerSpec("transformer", "ablation_attention", False, False, "causal global attention + MLP blocks"),
        MixerSpec("local_attention", "ablation_attention", False, False, "causal sliding-window attention blocks"),
        MixerSpec("causal_conv", "ablation_causal_conv", False, False, "gated causal depthwise convolutions"),
        MixerSpec("bf_ti", "ablation_bf_ti", False, False, "ByteFormer: conv stem, windowed attention, max pooling"),
        MixerSpec("chunked_ssm", "ablation_chunked_ssm", False, False, "Mamba restarted every ssm_chunk_size bytes"),
    )
}


def mixer_spec(config) -> MixerSpec:
    try:
        return MIXERS[config.mixer_type]
    except KeyError:
        raise ValueError(f"unknown mixer_type {config.mixer_type!r}; choose one of {sorted(MIXERS)}") from None


def mixer_module(config):
    """The module that builds ``config.mixer_type``'s blocks (imported on first use)."""
    return importlib.import_module(f".{mixer_spec(config).module}", __package__)


def require_capability(config, capability: str, feature: str) -> None:
    """Raise a ``ValueError`` naming ``mixer_type`` when ``feature`` needs ``capability`` and the mixer lacks it."""
    spec = mixer_spec(config)
    if not getattr(spec, capability):
        supported = sorted(name for name, other in MIXERS.items() if getattr(other, capability))
        raise ValueError(
            f"{feature} needs a mixer with the {capability!r} capability ({supported}), but this model has "
            f"mixer_type={config.mixer_type!r}"
        )


__all__ = ["CAPABILITIES", "MIXERS", "MixerSpec", "mixer_module", "mixer_spec", "require_capability"]
