"""Fill the model card templates of ``model_cards/`` (installed as ``bytevid_hf.model_cards``) for a checkpoint."""

from __future__ import annotations

import math
import os
from importlib import resources
from pathlib import Path


def render_model_card(config, metrics: dict[str, float] | None = None, model_path: str = "path/to/checkpoint",
                      dataset_name: str = "unspecified", notes: str = "", num_parameters: int | None = None) -> str:
    """Return the README.md text of a classification checkpoint from its config and evaluation metrics."""
    template = resources.files("bytevid_hf.model_cards").joinpath("classification.md").read_text(encoding="utf-8")
    metrics = metrics or {}
    if metrics:
        rows = "\n".join(f"| {name} | {value:.4f} |" for name, value in metrics.items())
        metrics_table = "| metric | value |\n| --- | --- |\n" + rows
        results = "\n".join(
            f"      - type: {name}\n        value: {float(value):.4f}" for name, value in metrics.items()
        )
        model_index = (
            f"model-index:\n- name: {Path(model_path).name or 'bytevid'}\n  results:\n  - task:\n"
            f"      type: video-classification\n    dataset:\n      name: {dataset_name}\n      type: custom\n"
            f"    metrics:\n{results}"
        )
    else:
        metrics_table, model_index = "Not evaluated.", ""
    labels = ", ".join(str(v) for _, v in sorted(config.id2label.items()))
    return template.format(
        model_index=model_index,
        model_name=Path(model_path).name or "bytevid classifier",
        num_levels=config.num_levels,
        layers_per_level=config.layers_per_level,
        hidden_size=config.hidden_size,
        pooling=config.pooling,
        pool_size=config.pool_size,
        num_parameters=f"{num_parameters:,}" if num_parameters is not None else "see config",
        labels=labels,
        model_path=model_path,
        metrics_table=metrics_table,
        dataset_name=dataset_name,
        notes=notes,
    )


def write_model_card(checkpoint_dir: str | os.PathLike, metrics: dict[str, float] | None = None,
                     dataset_name: str = "unspecified", notes: str = "") -> Path:
    """Write ``README.md`` into a saved checkpoint directory (reads its config.json and weights for the counts)."""
    from safetensors import safe_open

    from .configuration_bytevid import BytesVideoConfig

    checkpoint_dir = Path(checkpoint_dir)
    config = BytesVideoConfig.from_pretrained(checkpoint_dir)
    num_parameters = None
    weights = checkpoint_dir / "model.safetensors"
    if weights.is_file():
        with safe_open(str(weights), framework="pt") as f:
            num_parameters = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    text = render_model_card(config, metrics, str(checkpoint_dir), dataset_name, notes, num_parameters)
    path = checkpoint_dir / "README.md"
    path.write_text(text, encoding="utf-8")
    return path


__all__ = ["render_model_card", "write_model_card"]
