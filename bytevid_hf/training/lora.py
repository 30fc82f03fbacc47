"""LoRA adapters (peft) on the Mamba blocks of a bytevid model.

Each Mamba mixer (``bytevid.levels.<i>.<j>.mixer``) holds four linear maps that LoRA can adapt:

============  ==================================  ==============================================================
module        shape (per level width D, E = 2D)    role
============  ==================================  ==============================================================
``in_proj``   D → 2E                              input to the SSM branch x and the gate z
``x_proj``    E → R + 2N                          the input-dependent Δ (rank R), B and C of the selective scan
``dt_proj``   R → E                               Δ's projection to every channel (before softplus)
``out_proj``  E → D                               back to the residual stream
============  ==================================  ==============================================================

The depthwise ``conv1d`` and the SSM parameters ``A_log``/``D`` are not adaptable: they are applied through their
weights directly (``F.conv1d`` and the scan), so a LoRA wrapper on them would be silently ignored. The pooling
projections and the classification head are not Mamba blocks; pass ``modules_to_save=["classifier"]`` to train a new
head in full next to the adapters.

Adapters are saved/pushed with peft (``adapter_config.json`` + ``adapter_model.safetensors``), loaded with
``PeftModel.from_pretrained(base_model, path_or_repo)`` and folded into the weights with ``merge_and_unload()``.
"""

from __future__ import annotations

from collections.abc import Sequence

#: The Mamba mixer projections LoRA may adapt (all of them by default).
SSM_LORA_TARGET_MODULES = ("in_proj", "x_proj", "dt_proj", "out_proj")


def ssm_lora_target_regex(target_modules: Sequence[str] = SSM_LORA_TARGET_MODULES,
                          levels: Sequence[int] | None = None) -> str:
    """The peft ``target_modules`` regex selecting ``target_modules`` in the Mamba mixers of ``levels`` (all if None).

    The pattern matches the module's full name, e.g. ``bytevid.levels.0.1.mixer.in_proj``; it also matches models
    that nest the backbone deeper (the QA model's ``video_model.bytevid...``).
    """
    names = list(target_modules)
    if not names:
        raise ValueError("target_modules is empty: name at least one of " + ", ".join(SSM_LORA_TARGET_MODULES))
    unknown = [n for n in names if n not in SSM_LORA_TARGET_MODULES]
    if unknown:
        raise ValueError(
            f"target_modules {unknown} cannot carry LoRA in a bytevid Mamba block; choose from "
            f"{list(SSM_LORA_TARGET_MODULES)} (conv1d, A_log and D are applied through their weights directly, so an "
            "adapter on them would be ignored)"
        )
    if levels is None:
        level_pattern = r"\d+"
    else:
        if not levels or any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in levels):
            raise ValueError(f"levels must be a non-empty list of level indices >= 0, got {levels!r}")
        level_pattern = "(?:" + "|".join(str(i) for i in sorted(set(levels))) + ")"
    return rf"(?:.*\.)?levels\.{level_pattern}\.\d+\.mixer\.(?:{'|'.join(names)})"


def ssm_lora_config(
    r: int = 8,
    lora_alpha: int | None = None,
    lora_dropout: float = 0.0,
    target_modules: Sequence[str] = SSM_LORA_TARGET_MODULES,
    levels: Sequence[int] | None = None,
    modules_to_save: Sequence[str] | None = None,
    **kwargs,
):
    """A ``peft.LoraConfig`` adapting the Mamba projections (see the module docstring).

    ``lora_alpha`` defaults to ``2 * r``; ``levels`` restricts the adapters to some levels (e.g. the last ones);
    ``modules_to_save=["classifier"]`` trains the classification head in full. Extra kwargs go to ``LoraConfig``.
    """
    from peft import LoraConfig

    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise ValueError(f"LoRA rank r must be an integer >= 1, got {r!r}")
    return LoraConfig(
        r=r,
        lora_alpha=2 * r if lora_alpha is None else lora_alpha,
        lora_dropout=lora_dropout,
        target_modules=ssm_lora_target_regex(target_modules, levels),
        modules_to_save=list(modules_to_save) if modules_to_save else None,
        **kwargs,
    )


__all__ = ["SSM_LORA_TARGET_MODULES", "ssm_lora_config", "ssm_lora_target_regex"]
