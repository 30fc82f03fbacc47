"""Safe checkpoint loading for the bytevid model classes: safetensors only unless pickle is explicitly allowed, and a
clear error for a checkpoint whose tensor shapes do not match its config.

``from_pretrained`` of every bytevid ``PreTrainedModel`` (classifier, backbone, next-byte LM, RGB reconstruction, QA)
goes through :class:`SafeLoadingMixin`, which overrides only the public ``from_pretrained`` and checks before
transformers loads anything:

* **Pickle checkpoints are refused.** ``pytorch_model.bin`` / ``*.pt`` / ``*.pth`` / ``*.ckpt`` are Python pickles;
  a hostile one can run code when unpickled (torch's ``weights_only`` unpickler narrows but does not remove that
  attack surface). Without ``allow_pickle=True`` the model loads only ``model.safetensors`` (or a sharded
  ``model.safetensors.index.json``); a local checkpoint that holds only pickle weights, a pickle file path, or
  ``use_safetensors=False`` raise :class:`UnsafeCheckpointError` naming the file and the reason. With
  ``allow_pickle=True`` transformers' own rules apply (``weights_only=True`` by default: torch's restricted
  unpickler; ``weights_only=False`` additionally allows arbitrary pickles).
* **Shape mismatches are named.** :func:`check_checkpoint_shapes` compares, from public information only,

  - the shapes the config implies: the config as ``from_pretrained`` would build it (``config_class.from_pretrained``
    with the caller's download arguments and config overrides such as ``num_labels=5``, or the caller's ``config=``),
    and the model class instantiated from it on the ``meta`` device (no memory), whose ``state_dict()`` gives
    ``name -> shape``;
  - the checkpoint's shapes: the safetensors headers (``safe_open(...).get_slice(name).get_shape()``; no tensor is
    read) of ``model.safetensors`` or of every shard listed in ``model.safetensors.index.json`` (``variant`` and
    ``subfolder`` applied as transformers applies them), found with ``transformers.utils.cached_file`` for local
    folders and Hub repositories alike (Hub files are then cached for the load that follows); or the caller's
    ``state_dict=``.

  Checkpoint names are mapped to model names as transformers maps them: the caller's ``key_mapping``, then the
  ``base_model_prefix`` (``"bytevid"``) stripped when a head's checkpoint (``bytevid.*``) loads into the bare
  ``BytesVideoModel`` and added when a backbone checkpoint loads into a head. Tensors on one side only are not
  shape mismatches (transformers reports them as missing / unexpected). Every mismatched tensor raises one
  :class:`CheckpointShapeError` (a ``RuntimeError``, as transformers' own error, and a ``ValueError``) listing both
  shapes and the config fields (with their values) that fix its shape. ``ignore_mismatched_sizes=True`` skips the
  check and keeps transformers' behaviour (re-initialise those tensors), e.g. for a new classification head.

  Not checked here (transformers' own ``RuntimeError`` still applies when shapes differ): pickle checkpoints loaded
  with ``allow_pickle=True`` (their shapes are not readable without unpickling), GGUF files, quantized checkpoints
  (their stored shapes are packed), a config naming its own weights file (``transformers_weights``), and a
  checkpoint whose config or weights cannot be located before loading (e.g. a PEFT adapter folder; transformers
  resolves it).
"""

from __future__ import annotations

import copy
import json
import os
import re

import torch
from safetensors import SafetensorError, safe_open
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.utils import cached_file

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


class CheckpointShapeError(RuntimeError, ValueError):
    """A checkpoint's tensors do not have the shapes its config implies.

    A ``RuntimeError`` like transformers' own size-mismatch error (what callers catch around ``from_pretrained``), and
    a ``ValueError`` for callers of earlier versions."""


def config_fields_for_parameter(name: str) -> tuple[str, ...]:
    """The config fields that fix the shape of parameter ``name`` (empty when unknown)."""
    for pattern, fields in _SHAPE_FIELDS:
        if re.search(pattern, name):
            return fields
    return ()


def _owning_config(model, name: str):
    """The config of the innermost ``PreTrainedModel`` in ``model`` that holds parameter ``name`` (for the QA model:
    ``bytevid.*`` -> its ``video_config``, ``language_model.*`` -> its ``text_config``)."""
    config, module = getattr(model, "config", None), model
    for part in name.split(".")[:-1]:
        module = dict(module.named_children()).get(part)
        if module is None:
            break
        if isinstance(module, PreTrainedModel):
            config = module.config
    return config


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
    for name, checkpoint_shape, model_shape in sorted(mismatched):
        config = _owning_config(model, name)
        # The field table describes bytevid modules only (a Gemma language model's "mlp." is not a bytevid MLP).
        fields = config_fields_for_parameter(name) if getattr(config, "model_type", None) == "bytevid" else ()
        hint = f"; its shape follows from {_describe_fields(config, fields)}" if fields else ""
        lines.append(f"  {name}: checkpoint {tuple(checkpoint_shape)} vs config {tuple(model_shape)}{hint}")
    lines.append(
        "Fix config.json to the architecture the weights were trained with, or pass ignore_mismatched_sizes=True to "
        "re-initialise these tensors (e.g. a new classification head)."
    )
    return "\n".join(lines)


def _variant_name(name: str, variant: str | None) -> str:
    """transformers' weight file name for ``variant``: model.safetensors -> model.{variant}.safetensors,
    model.safetensors.index.json -> model.safetensors.index.{variant}.json."""
    if not variant:
        return name
    stem, extension = name.rsplit(".", 1)
    return f"{stem}.{variant}.{extension}"


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
        safe = [_variant_name(name, kwargs.get("variant")) for name in SAFE_WEIGHT_FILES]
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


# from_pretrained arguments that are not config fields: transformers (5.24) takes these out of **kwargs before it
# passes the rest to config_class.from_pretrained. An argument missing here would reach the config as an unused kwarg.
_LOADING_ARGUMENTS = frozenset({
    "config", "cache_dir", "ignore_mismatched_sizes", "force_download", "local_files_only", "token", "revision",
    "use_safetensors", "weights_only", "fusion_config", "disable_mmap", "state_dict", "proxies", "tqdm_class",
    "output_loading_info", "_from_pipeline", "_from_auto", "dtype", "torch_dtype", "device_map", "max_memory",
    "offload_folder", "offload_buffers", "quantization_config", "subfolder", "_commit_hash", "variant",
    "adapter_kwargs", "adapter_name", "generation_config", "gguf_file", "distributed_config", "device_mesh", "tp_plan",
    "tp_size", "trust_remote_code", "allow_all_kernels", "use_kernels", "kernel_config", "key_mapping", "mirror",
    "_fast_init", "low_cpu_mem_usage", "from_tf", "from_flax", "offload_state_dict",
})
# Where the config and the weights are looked up (cached_file / config_class.from_pretrained arguments).
# force_download is left to transformers' own load: passing it here would download every file twice.
_DOWNLOAD_ARGUMENTS = ("cache_dir", "proxies", "local_files_only", "token", "revision", "subfolder")


def _download_kwargs(kwargs: dict) -> dict:
    return {name: kwargs[name] for name in _DOWNLOAD_ARGUMENTS if kwargs.get(name) is not None}


def _config_for_loading(model_class, pretrained_model_name_or_path, kwargs: dict):
    """The config ``model_class.from_pretrained(pretrained_model_name_or_path, **kwargs)`` builds its model from:
    the caller's ``config=`` object (copied), or ``config_class.from_pretrained`` of ``config=`` (a path) or of the
    checkpoint, with the download arguments and the config overrides (e.g. ``num_labels=5``) applied as transformers
    applies them. ``None`` when no config.json can be located (transformers then raises, or resolves an adapter)."""
    config = kwargs.get("config")
    if isinstance(config, PreTrainedConfig):
        return copy.deepcopy(config)
    source = config if config is not None else pretrained_model_name_or_path
    if source is None:
        return None
    overrides = {name: value for name, value in kwargs.items() if name not in _LOADING_ARGUMENTS}
    try:
        config, _unused = model_class.config_class.from_pretrained(
            source, return_unused_kwargs=True, **_download_kwargs(kwargs), **overrides
        )
    except OSError:
        return None
    return config


def _safetensors_header_shapes(path: str) -> dict[str, tuple[int, ...]]:
    """name -> shape of every tensor in the safetensors file ``path``, from its header (no tensor data is read)."""
    with safe_open(path, framework="pt") as f:
        return {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}


def checkpoint_tensor_shapes(pretrained_model_name_or_path, kwargs: dict) -> dict[str, tuple[int, ...]] | None:
    """name -> shape of every tensor in the safetensors checkpoint ``from_pretrained(pretrained_model_name_or_path,
    **kwargs)`` would load (``model.safetensors``, else the shards of ``model.safetensors.index.json``; ``variant``
    and ``subfolder`` applied; a local folder, a ``.safetensors`` file or a Hub repository id), read from the file
    headers. ``None`` when there is no such checkpoint or it cannot be read before loading."""
    path = os.fspath(pretrained_model_name_or_path)
    download = _download_kwargs(kwargs)
    try:
        if os.path.isfile(path):
            return _safetensors_header_shapes(path) if path.endswith(".safetensors") else None
        for name in SAFE_WEIGHT_FILES:
            try:
                resolved = cached_file(path, _variant_name(name, kwargs.get("variant")), **download)
            except OSError:  # not in this repository / folder (or not reachable): try the next name
                continue
            if resolved is None:
                continue
            if not name.endswith(".index.json"):
                return _safetensors_header_shapes(resolved)
            with open(resolved, encoding="utf-8") as f:
                shards = sorted(set(json.load(f)["weight_map"].values()))
            shapes = {}
            for shard in shards:
                shard_path = cached_file(path, shard, **download)
                if shard_path is None:
                    return None
                shapes.update(_safetensors_header_shapes(shard_path))
            return shapes
    except (OSError, ValueError, KeyError, SafetensorError):
        # An unreadable or incomplete checkpoint: transformers' own load reports it (or repairs it with
        # force_download=True).
        return None
    return None


def _prefixed_key(key: str, expected: dict, prefix: str) -> str:
    """transformers' base_model_prefix rule: strip the prefix when only the stripped name is a model tensor (a
    head's checkpoint into the bare backbone), add it when only the prefixed name is (a backbone checkpoint into a
    head)."""
    if not prefix:
        return key
    stripped = key.removeprefix(f"{prefix}.")
    if stripped != key and stripped in expected:
        return stripped
    if f"{prefix}.{key}" in expected:
        return f"{prefix}.{key}"
    return key


def _model_key(key: str, expected: dict, prefix: str, key_mapping: dict | None) -> str:
    """The model tensor a checkpoint tensor ``key`` loads into: the caller's ``key_mapping`` (regex -> replacement,
    in order), then the base_model_prefix rule; the unrenamed key when only it names a model tensor."""
    renamed = key
    for pattern, replacement in (key_mapping or {}).items():
        renamed = re.sub(pattern, replacement, renamed, count=1)
    renamed = _prefixed_key(renamed, expected, prefix)
    if renamed not in expected and key in expected:
        return _prefixed_key(key, expected, prefix)
    return renamed


def _describe_source(pretrained_model_name_or_path, kwargs: dict) -> str:
    if pretrained_model_name_or_path is None:
        return "given as state_dict"
    source = os.fspath(pretrained_model_name_or_path)
    details = [f"{name}={kwargs[name]!r}" for name in ("subfolder", "variant", "revision") if kwargs.get(name)]
    return f"{source} ({', '.join(details)})" if details else source


def check_checkpoint_shapes(model_class, pretrained_model_name_or_path, kwargs: dict) -> None:
    """Raise :class:`CheckpointShapeError` when a tensor of the checkpoint ``model_class.from_pretrained(
    pretrained_model_name_or_path, **kwargs)`` would load has another shape than the same tensor of the
    ``model_class`` its config builds (see the module docstring for what is read; nothing is loaded or allocated).
    Does nothing with ``ignore_mismatched_sizes=True`` or when the shapes cannot be read before loading."""
    if kwargs.get("ignore_mismatched_sizes") or kwargs.get("gguf_file") or kwargs.get("use_safetensors") is False:
        return
    if kwargs.get("quantization_config") is not None:
        return
    config = _config_for_loading(model_class, pretrained_model_name_or_path, kwargs)
    if config is None or getattr(config, "quantization_config", None) or getattr(config, "transformers_weights", None):
        return
    state_dict = kwargs.get("state_dict")
    if state_dict is not None:
        checkpoint = {name: tuple(tensor.shape) for name, tensor in state_dict.items()}
    elif pretrained_model_name_or_path is not None:
        checkpoint = checkpoint_tensor_shapes(pretrained_model_name_or_path, kwargs)
    else:
        return
    if not checkpoint:
        return
    with torch.device("meta"):  # parameters without storage: shapes only
        model = model_class(config)
    expected = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}  # name -> shape
    prefix = getattr(model_class, "base_model_prefix", "") or ""
    mismatched = []  # (model tensor name, checkpoint shape, config shape)
    for key, shape in checkpoint.items():
        name = _model_key(key, expected, prefix, kwargs.get("key_mapping"))
        if name in expected and expected[name] != shape:
            mismatched.append((name, shape, expected[name]))
    if mismatched:
        raise CheckpointShapeError(
            shape_mismatch_message(model, mismatched, _describe_source(pretrained_model_name_or_path, kwargs))
        )


class SafeLoadingMixin:
    """``from_pretrained`` with the pickle guard and named shape errors (mixed into the bytevid PreTrainedModels)."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, allow_pickle: bool = False, **kwargs):
        r"""transformers' ``from_pretrained`` (same arguments), restricted to safetensors weights, with a named
        error for tensor shapes that do not match the config.

        Args:
            allow_pickle (`bool`, *optional*, defaults to `False`):
                Also accept pickle checkpoints (``pytorch_model.bin`` and other torch.save files, loaded with
                transformers' ``weights_only`` rule). Without it such checkpoints raise ``UnsafeCheckpointError``.

        Raises:
            UnsafeCheckpointError: the checkpoint would be unpickled without ``allow_pickle=True``.
            CheckpointShapeError: a checkpoint tensor's shape differs from the config's (unless
                ``ignore_mismatched_sizes=True``); checked from the safetensors headers before anything is loaded.
        """
        if not allow_pickle:
            check_checkpoint_is_safe(pretrained_model_name_or_path, kwargs)
        check_checkpoint_shapes(cls, pretrained_model_name_or_path, kwargs)
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)


__all__ = [
    "CheckpointShapeError",
    "SafeLoadingMixin",
    "UnsafeCheckpointError",
    "check_checkpoint_is_safe",
    "check_checkpoint_shapes",
    "checkpoint_tensor_shapes",
    "config_fields_for_parameter",
]
