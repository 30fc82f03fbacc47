"""Safe checkpoint loading for the bytevid model classes: safetensors only unless pickle is explicitly allowed, and a
clear error for a checkpoint whose tensor shapes do not match its config.

``from_pretrained`` of every bytevid ``PreTrainedModel`` (classifier, backbone, next-byte LM, RGB reconstruction, QA)
goes through :class:`SafeLoadingMixin`:

* **Pickle checkpoints are refused.** ``pytorch_model.bin`` / ``*.pt`` / ``*.pth`` / ``*.ckpt`` are Python pickles;
  a hostile one can run code when unpickled (torch's ``weights_only`` unpickler narrows but does not remove that
  attack surface). Without ``allow_pickle=True`` the model loads only ``model.safetensors`` (or a sharded
  ``model.safetensors.index.json``); a local checkpoint that holds only pickle weights, a pickle file path, or
  ``use_safetensors=False`` raise :class:`UnsafeCheckpointError` naming the file and the reason. With
  ``allow_pickle=True`` transformers' own rules apply (``weights_only=True`` by default: torch's restricted
  unpickler; ``weights_only=False`` additionally allows arbitrary pickles).
* **Shape mismatches are named.** transformers raises a bare ``RuntimeError`` (and logs a table) when a checkpoint
  tensor's shape differs from the model built from ``config.json``; here a :class:`CheckpointShapeError` lists every
  mismatched parameter with both shapes and the config fields (with their values) that fix its shape.
  ``ignore_mismatched_sizes=True`` keeps transformers' behaviour (re-initialise those tensors), e.g. for a new
  classification head.
"""

from __future__ import annotations

import os
import re

SAFE_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")

# Parameter name (suffix regex) -> the config fields that decide its shape. The level width is
# hidden_size * level_width_multiplier**level, so both always matter for per-level tensors.
_WIDTH = ("hidden_size", "level_width_multiplier", "num_levels")
_SHAPE_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"embeddings\.weight$", ("vocab_size", "hidden_size")),
    (r"mixer\.A_log$", (*_WIDTH, "expand", "state_size")),
    (r"mixer\.x_proj\.weight$", (*_WIDTH, "expand", "state_size", "time_step_rank")),
    (r"mixer\.dt_proj\.weight$", (*_WIDTH, "expand", "time_step_rank")),
    (r"mixer\.conv1d\.(weight|bias)$", (*_WIDTH, "mixer_type", "expand", "conv_kernel", "conv_mixer_kernel")),
    (r"mixer\.", (*_WIDTH, "mixer_type", "expand")),
    (r"attention\.", (*_WIDTH, "mixer_type", "num_attention_heads")),
    (r"mlp\.", (*_WIDTH, "mixer_type", "attention_mlp_ratio")),
    (r"stem\.", ("hidden_size", "mixer_type", "bf_ti_conv_stride")),
    (r"poolers\.\d+\.proj\.weight$", (*_WIDTH, "pooling", "pool_size")),
    (r"poolers\.\d+\.", (*_WIDTH, "pooling", "pooling_attention_heads")),
    (r"levels\.\d+\.\d+\.", (*_WIDTH, "mixer_type", "layers_per_level")),
    (r"norm_f\.weight$", _WIDTH),
    (r"classifier\.(weight|bias)$", (*_WIDTH, "num_labels")),
    (r"lm_head\.weight$", ("vocab_size", "hidden_size")),
    (r"reconstruction|decoder", (*_WIDTH, "reconstruction_tokens", "reconstruction_hidden_size")),
)


class UnsafeCheckpointError(ValueError):
    """A checkpoint would be loaded with pickle without ``allow_pickle=True``."""


class CheckpointShapeError(ValueError):
    """A checkpoint's tensors do not have the shapes its config implies."""


def config_fields_for_parameter(name: str) -> tuple[str, ...]:
    """The config fields that fix the shape of parameter ``name`` (empty when unknown)."""
    for pattern, fields in _SHAPE_FIELDS:
        if re.search(pattern, name):
            return fields
    return ()


def _describe_fields(config, fields: tuple[str, ...]) -> str:
    parts = []
    for field in fields:
        value = getattr(config, field, None)
        parts.append(field if value is None else f"{field}={value!r}")
    return ", ".join(parts)


def shape_mismatch_message(model, mismatched, source) -> str:
    """One line per ``(name, checkpoint_shape, model_shape)`` naming the config fields involved."""
    lines = [
        f"the checkpoint {source!s} does not match its config: {len(mismatched)} tensor(s) have other shapes than "
        f"the {type(model).__name__} built from the config (config.json and the weights come from different "
        "models, or config.json was edited):"
    ]
    config = getattr(model, "config", None)
    for name, checkpoint_shape, model_shape in sorted(mismatched):
        fields = config_fields_for_parameter(name)
        hint = f"; its shape follows from {_describe_fields(config, fields)}" if fields else ""
        lines.append(f"  {name}: checkpoint {tuple(checkpoint_shape)} vs config {tuple(model_shape)}{hint}")
    lines.append(
        "Fix config.json to the architecture the weights were trained with, or pass ignore_mismatched_sizes=True to "
        "re-initialise these tensors (e.g. a new classification head)."
    )
    return "\n".join(lines)


def _local_pickle_files(directory: str) -> list[str]:
    names = os.listdir(directory)
    return sorted(name for name in names if name.endswith(PICKLE_SUFFIXES) or name.endswith(".bin.index.json"))


def check_checkpoint_is_safe(pretrained_model_name_or_path, kwargs: dict) -> None:
    """Raise :class:`UnsafeCheckpointError` when loading ``pretrained_model_name_or_path`` with ``kwargs`` would
    unpickle weights; otherwise set ``kwargs["use_safetensors"] = True`` so that transformers never falls back to a
    pickle file (also for Hub repositories)."""
    if kwargs.get("use_safetensors") is False:
        raise UnsafeCheckpointError(
            f"from_pretrained({pretrained_model_name_or_path!s}, use_safetensors=False) would load pickle weights "
            "(pytorch_model.bin), which can run arbitrary code when unpickled; bytevid models load safetensors only. "
            "Pass allow_pickle=True as well if you trust this checkpoint."
        )
    if pretrained_model_name_or_path is None:
        return
    path = os.fspath(pretrained_model_name_or_path)
    subfolder = kwargs.get("subfolder") or ""
    if os.path.isfile(path) and not path.endswith(".safetensors"):
        raise UnsafeCheckpointError(
            f"refusing to load {path!r}: it is not a safetensors file (a pickle checkpoint can run arbitrary code "
            "when unpickled). Convert it to model.safetensors, or pass allow_pickle=True if you trust it."
        )
    directory = os.path.join(path, subfolder)
    if os.path.isdir(directory):
        variant = kwargs.get("variant")
        safe = [name if not variant else name.replace("model.", f"model.{variant}.", 1) for name in SAFE_WEIGHT_FILES]
        if not any(os.path.isfile(os.path.join(directory, name)) for name in safe):
            pickles = _local_pickle_files(directory)
            if pickles:
                raise UnsafeCheckpointError(
                    f"refusing to load {os.path.join(directory, pickles[0])!r}: the checkpoint {directory!r} has no "
                    f"{' or '.join(safe)}, only pickle weights {pickles}, which can run arbitrary code when "
                    "unpickled. Re-save it with save_pretrained() (safetensors), or pass allow_pickle=True if you "
                    "trust it."
                )
    kwargs["use_safetensors"] = True


class SafeLoadingMixin:
    """``from_pretrained`` with the pickle guard and named shape errors (mixed into the bytevid PreTrainedModels)."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, allow_pickle: bool = False, **kwargs):
        r"""transformers' ``from_pretrained`` (same arguments), restricted to safetensors weights.

        Args:
            allow_pickle (`bool`, *optional*, defaults to `False`):
                Also accept pickle checkpoints (``pytorch_model.bin`` and other torch.save files, loaded with
                transformers' ``weights_only`` rule). Without it such checkpoints raise ``UnsafeCheckpointError``.
        """
        if not allow_pickle:
            check_checkpoint_is_safe(pretrained_model_name_or_path, kwargs)
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)

    @classmethod
    def _finalize_model_loading(cls, model, load_config, loading_info):
        mismatched = getattr(loading_info, "mismatched_keys", None)
        if mismatched and not getattr(load_config, "ignore_mismatched_sizes", False):
            source = getattr(load_config, "pretrained_model_name_or_path", None)
            raise CheckpointShapeError(shape_mismatch_message(model, mismatched, source))
        return super()._finalize_model_loading(model, load_config, loading_info)


__all__ = [
    "CheckpointShapeError",
    "SafeLoadingMixin",
    "UnsafeCheckpointError",
    "check_checkpoint_is_safe",
    "config_fields_for_parameter",
]
