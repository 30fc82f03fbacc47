"""Model cards for bytevid checkpoints, filled from the config and evaluation metrics.

The templates live in ``model_cards/`` (installed as ``bytevid_hf.model_cards``): ``classification.md`` for the byte
models (classifier, backbone, pre-training heads) and ``qa.md`` for the Gemma video-QA model. The YAML metadata is built
with huggingface_hub's :class:`~huggingface_hub.ModelCardData` (``library_name``, ``pipeline_tag``, ``tags``,
``license``, ``datasets``, ``base_model`` and a ``model-index`` with the results) and the card rendered with
:meth:`~huggingface_hub.ModelCard.from_template`, so the Hub reads the same fields this module writes.
"""

from __future__ import annotations

import math
import os
from importlib import resources
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

# Trainer metric keys that describe throughput, not quality: never reported as results.
_NOT_RESULTS = ("runtime", "samples_per_second", "steps_per_second", "epoch", "total_flos", "step")
_TASK_NAMES = {"video-classification": "Video Classification", "video-text-to-text": "Video Question Answering"}


def clean_metrics(metrics: dict[str, Any] | None) -> dict[str, float]:
    """``metrics`` as ``{name: float}`` without Trainer prefixes (``eval_``/``test_``) or throughput entries.

    Raises ``ValueError`` naming the metric when a value is not a finite number.
    """
    cleaned: dict[str, float] = {}
    for key, value in (metrics or {}).items():
        name = str(key)
        for prefix in ("eval_", "test_"):
            name = name.removeprefix(prefix)
        if name in _NOT_RESULTS or name.endswith(_NOT_RESULTS):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
            raise ValueError(f"metric {key!r} must be a finite number, got {value!r}")
        cleaned[name] = float(value)
    return cleaned


def _card_kind(config) -> str:
    return "qa" if getattr(config, "model_type", None) == "bytevid_gemma" else "bytevid"


def _pipeline_tag(config, architecture: str | None) -> str | None:
    if _card_kind(config) == "qa":
        return "video-text-to-text"
    if architecture == "BytesVideoForClassification" or (architecture is None and getattr(config, "num_labels", 0) > 0
                                                          and getattr(config, "id2label", None)):
        return "video-classification"
    return "feature-extraction" if architecture == "BytesVideoModel" else None


def render_model_card(
    config,
    metrics: dict[str, Any] | None = None,
    repo_id: str = "path/to/checkpoint",
    dataset_name: str = "unspecified",
    notes: str = "",
    num_parameters: int | None = None,
    *,
    architecture: str | None = None,
    datasets: list[str] | None = None,
    base_model: str | list[str] | None = None,
    license: str = "apache-2.0",  # noqa: A002 - the Hub's field name
    tags: list[str] | None = None,
) -> str:
    """Return the ``README.md`` text of a checkpoint.

    Args:
        config: the checkpoint's ``BytesVideoConfig`` or ``BytesVideoGemmaConfig``.
        metrics: evaluation results (``{"accuracy": 0.74}`` or a Trainer's ``eval_*`` dict), written to the card and
            to ``model-index``.
        repo_id: the Hub repo id (or local path) used in the usage snippet and as the model name.
        dataset_name: a description of the evaluation data; ``datasets`` lists Hub dataset ids for the metadata.
        architecture: the model class name (``config.architectures[0]`` when omitted); decides the pipeline tag.
        base_model: the checkpoint this one was fine-tuned from (Hub id), e.g. a pre-trained backbone or the Gemma LM.
    """
    kind = _card_kind(config)
    if architecture is None and getattr(config, "architectures", None):
        architecture = config.architectures[0]
    pipeline_tag = _pipeline_tag(config, architecture)
    results = clean_metrics(metrics)
    model_name = Path(str(repo_id)).name or "bytevid"
    eval_results = [
        EvalResult(task_type=pipeline_tag or "video-classification", task_name=_TASK_NAMES.get(pipeline_tag or ""),
                   dataset_type=(datasets or ["custom"])[0], dataset_name=dataset_name, metric_type=name,
                   metric_name=name, metric_value=round(value, 6))
        for name, value in results.items()
    ] or None
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag=pipeline_tag,
        license=license,
        tags=["bytevid", "encoded-bytes", "mamba", "video", *(tags or []), *(["video-qa", "gemma"] if kind == "qa" else [])],
        datasets=datasets,
        base_model=base_model,
        model_name=model_name if eval_results else None,
        eval_results=eval_results,
    )
    template = "qa.md" if kind == "qa" else "classification.md"
    template_str = resources.files("bytevid_hf.model_cards").joinpath(template).read_text(encoding="utf-8")
    params = f"{num_parameters:,}" if num_parameters is not None else "see config.json for the"
    common = dict(model_name=model_name, repo_id=repo_id, metrics=results, dataset_name=dataset_name, notes=notes,
                  num_parameters=params, base_model=base_model)
    if kind == "qa":
        video, text = config.video_config, config.text_config
        card = ModelCard.from_template(
            card_data, template_str=template_str, **common,
            video_num_levels=video.num_levels, video_hidden_size=video.hidden_size,
            num_video_tokens=config.num_video_tokens, video_token=config.video_token,
            text_model_type=text.model_type, text_num_layers=text.num_hidden_layers, text_hidden_size=text.hidden_size,
        )
    else:
        is_classifier = pipeline_tag == "video-classification"
        labels = [str(v) for _, v in sorted(config.id2label.items())] if is_classifier else []
        card = ModelCard.from_template(
            card_data, template_str=template_str, **common,
            task_description="video classifier" if is_classifier else "video model",
            is_classifier=is_classifier, labels=labels, top_k=min(3, max(1, len(labels))),
            num_levels=config.num_levels, layers_per_level=config.layers_per_level, hidden_size=config.hidden_size,
            pooling=config.pooling, pool_size=config.pool_size, output_size=config.output_size,
        )
    return str(card)


def count_safetensors_parameters(checkpoint_dir: str | os.PathLike) -> int | None:
    """Number of parameters stored in a checkpoint's safetensors file(s), or ``None`` when there are none."""
    from safetensors import safe_open

    files = sorted(Path(checkpoint_dir).glob("*.safetensors"))
    files = [f for f in files if not f.name.startswith("adapter_")]
    if not files:
        return None
    total = 0
    for f in files:
        with safe_open(str(f), framework="pt") as handle:
            total += sum(math.prod(handle.get_slice(k).get_shape()) for k in handle.keys())
    return total


def write_model_card(checkpoint_dir: str | os.PathLike, metrics: dict[str, Any] | None = None,
                     dataset_name: str = "unspecified", notes: str = "", repo_id: str | None = None,
                     **card_kwargs: Any) -> Path:
    """Write ``README.md`` into a saved checkpoint directory (reads its config.json and weights for the counts)."""
    from transformers import AutoConfig  # bytevid model types are registered by `import bytevid_hf`

    checkpoint_dir = Path(checkpoint_dir)
    config = AutoConfig.from_pretrained(checkpoint_dir)
    text = render_model_card(config, metrics, repo_id or str(checkpoint_dir), dataset_name, notes,
                             count_safetensors_parameters(checkpoint_dir), **card_kwargs)
    path = checkpoint_dir / "README.md"
    path.write_text(text, encoding="utf-8")
    return path


__all__ = ["clean_metrics", "count_safetensors_parameters", "render_model_card", "write_model_card"]
