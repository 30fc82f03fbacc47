"""Publishing bytevid checkpoints: a Hub-ready folder, a push with huggingface_hub, and Trainer-checkpoint conversion.

* :func:`export_checkpoint` writes a complete folder: safetensors weights (sharded above ``max_shard_size``), config,
  processor, model card (``README.md``), ``eval_results.json`` and the model code with ``auto_map`` entries, so that
  ``AutoModelForVideoClassification`` / ``AutoVideoProcessor`` / ``pipeline("video-classification")`` load it with
  ``trust_remote_code=True`` where bytevid_hf is not installed. The code is written by transformers' own mechanism
  (``register_for_auto_class`` + ``save_pretrained``), which copies the module of each class and the modules it
  imports — ``modeling/`` and ``processing/`` import only their own folder, so that is exactly the code the model and
  its processor run (the README lists the files).
* :func:`convert_trainer_checkpoint` turns a ``Trainer`` output or ``checkpoint-N`` directory (optimizer, scheduler,
  RNG state, pickled training args ...) into such a folder, holding only what inference needs.
* :func:`push_checkpoint` uploads one of them to the Hub in one commit (``private``, a branch ``revision``, a commit
  message). The token comes from ``HF_TOKEN`` or ``hf auth login``, as everywhere in huggingface_hub; the
  endpoint from ``HF_ENDPOINT``.
* :func:`push_model` is what ``model.push_to_hub(repo_id)`` runs for a bytevid model once ``bytevid_hf`` is imported
  (:func:`install_push_to_hub`): weights, config with ``auto_map``, the model code and the package's card, keeping
  the files already in the repo (``processor.push_to_hub`` adds the processor and its code).
* The Trainers of :mod:`bytevid_hf.training` (:class:`~bytevid_hf.training.trainer.BytesVideoTrainer`) save and push
  the same folders from ``save_model``, ``--push_to_hub`` and ``trainer.push_to_hub()``.

Pickle files are never written and never uploaded: a folder holding ``*.bin``/``*.pt``/``*.pkl`` ... is refused.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from .model_card import clean_metrics, count_safetensors_parameters, render_model_card

logger = logging.getLogger(__name__)

#: File patterns that may hold pickled Python objects; never part of an exported or pushed checkpoint.
PICKLE_PATTERNS = ("*.bin", "*.pt", "*.pth", "*.pkl", "*.pickle", "*.ckpt", "*.joblib", "*.npy")
#: Processor config files that may carry an ``auto_map``.
_PROCESSOR_CONFIGS = ("video_preprocessor_config.json", "preprocessor_config.json", "processor_config.json")


def auto_classes_for(model, processor=None) -> list[tuple[type, str]]:
    """``[(class, auto class name)]`` to register for a bytevid model and its processor: the config, the model's own
    head and the processor when given (a checkpoint ships the code of what it holds, nothing else). Raises
    ``TypeError`` for a model that is not a bytevid model (e.g. a peft wrapper)."""
    from ..modeling import (
        BytesVideoConfig,
        BytesVideoForCausalLM,
        BytesVideoForClassification,
        BytesVideoForRGBReconstruction,
        BytesVideoGemmaConfig,
        BytesVideoGemmaForQA,
        BytesVideoModel,
    )

    heads = {
        BytesVideoForClassification: "AutoModelForVideoClassification",
        BytesVideoModel: "AutoModel",
        BytesVideoForCausalLM: "AutoModelForCausalLM",
        BytesVideoForRGBReconstruction: "AutoModel",
        BytesVideoGemmaForQA: "AutoModel",  # what the QA card's snippet loads it with
    }
    head = heads.get(type(model))
    if head is None or not isinstance(model.config, (BytesVideoConfig, BytesVideoGemmaConfig)):
        raise TypeError(f"export_checkpoint expects a bytevid model, got {type(model).__name__} "
                        f"(config {type(model.config).__name__})")
    pairs = [(type(model.config), "AutoConfig"), (type(model), head)]
    if processor is not None:
        processor_auto = "AutoProcessor" if isinstance(model.config, BytesVideoGemmaConfig) else "AutoVideoProcessor"
        pairs.append((type(processor), processor_auto))
    return pairs


@contextlib.contextmanager
def registered_for_auto_classes(pairs: list[tuple[type, str]]):
    """``cls.register_for_auto_class(name)`` for every pair while the block runs, then the previous registrations
    back (:func:`bytevid_hf.processing.auto_registration.registered_for` for each)."""
    from ..processing.auto_registration import registered_for

    with contextlib.ExitStack() as stack:
        for cls, name in pairs:
            stack.enter_context(registered_for(cls, name))
        yield


def pickle_files(folder: str | os.PathLike) -> list[Path]:
    """Files in ``folder`` (recursively) whose names match :data:`PICKLE_PATTERNS`."""
    folder = Path(folder)
    return sorted({p for pattern in PICKLE_PATTERNS for p in folder.rglob(pattern) if p.is_file()})


def export_checkpoint(
    model,
    processor,
    out_dir: str | os.PathLike,
    metrics: dict[str, Any] | None = None,
    *,
    repo_id: str | None = None,
    dataset_name: str = "unspecified",
    datasets: list[str] | None = None,
    base_model: str | None = None,
    license: str = "apache-2.0",  # noqa: A002 - the Hub's field name
    notes: str = "",
    max_shard_size: int | str = "2GB",
    remote_code: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write a complete, Hub-ready checkpoint folder and return its path.

    Args:
        model: a bytevid model (``BytesVideoForClassification``, ``BytesVideoModel``, ``BytesVideoForCausalLM`` or
            ``BytesVideoGemmaForQA``).
        processor: its processor (``BytesVideoProcessor``; ``BytesVideoQAProcessor`` for QA). Required: a checkpoint
            without one cannot be run by ``pipeline``.
        out_dir: the folder to write; must be empty or absent unless ``overwrite=True``.
        metrics: evaluation results for the model card's ``model-index`` and ``eval_results.json``.
        repo_id: the Hub id the card's usage snippet names (defaults to the folder name).
        max_shard_size: weights above this size are split into safetensors shards with an index.
        remote_code: write the code files and ``auto_map`` (loading without bytevid_hf installed).
    """
    if processor is None:
        raise ValueError("export_checkpoint needs the model's processor: pipelines and AutoVideoProcessor load it "
                         "from the checkpoint (pass the BytesVideoProcessor used for training)")
    pairs = auto_classes_for(model, processor)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"export_checkpoint: {out_dir} is not empty; pass overwrite=True or choose a new folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    with registered_for_auto_classes(pairs if remote_code else []):
        model.save_pretrained(out_dir, max_shard_size=max_shard_size)
        processor.save_pretrained(out_dir)
    results = clean_metrics(metrics)
    if results:
        (out_dir / "eval_results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n",
                                                   encoding="utf-8")
    write_checkpoint_card(out_dir, model, results, repo_id=repo_id, dataset_name=dataset_name, notes=notes,
                          datasets=datasets, base_model=base_model, license=license)
    leftovers = pickle_files(out_dir)
    if leftovers:  # save_pretrained writes safetensors only; anything else came from elsewhere
        raise RuntimeError(f"export_checkpoint: pickle files in {out_dir}: {[str(p) for p in leftovers]}")
    return out_dir


_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


def find_trainer_checkpoint(path: str | os.PathLike) -> Path:
    """The folder holding the weights: ``path`` itself, or its latest ``checkpoint-N`` subfolder."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"Trainer checkpoint {path} is not a directory")
    if (path / "config.json").is_file() and any(path.glob("model*.safetensors")):
        return path
    steps = sorted((int(m.group(1)), p) for p in path.iterdir() if p.is_dir() and (m := _CHECKPOINT_RE.match(p.name)))
    if steps:
        return steps[-1][1]
    if any(path.glob("*.bin")) or any(path.glob("*.pt")):
        raise ValueError(f"{path} holds only pickle weights; re-save it with safetensors (save_pretrained) first")
    raise FileNotFoundError(f"{path} holds neither config.json + model.safetensors nor checkpoint-N folders")


def _last_eval_metrics(checkpoint: Path) -> dict[str, float]:
    for folder in (checkpoint, checkpoint.parent):
        state = folder / "trainer_state.json"
        if state.is_file():
            history = json.loads(state.read_text(encoding="utf-8")).get("log_history", [])
            for entry in reversed(history):
                evals = {k: v for k, v in entry.items() if k.startswith("eval_")}
                if evals:
                    return clean_metrics(evals)
    return {}


def load_checkpoint(path: str | os.PathLike, processor_path: str | os.PathLike | None = None):
    """Load ``(model, processor)`` from a saved or Trainer checkpoint folder (weights from safetensors only)."""
    from transformers import AutoConfig, AutoProcessor, AutoVideoProcessor

    from .. import modeling

    checkpoint = find_trainer_checkpoint(path)
    config = AutoConfig.from_pretrained(checkpoint)
    architecture = (config.architectures or [None])[0]
    model_class = getattr(modeling, architecture or "", None)
    if model_class is None:
        raise ValueError(f"{checkpoint}/config.json names architecture {architecture!r}, not a bytevid model class")
    model = model_class.from_pretrained(checkpoint, use_safetensors=True)
    loader = AutoProcessor if config.model_type == "bytevid_gemma" else AutoVideoProcessor
    candidates = [Path(processor_path)] if processor_path is not None else [checkpoint, checkpoint.parent]
    for folder in candidates:
        if any((folder / name).is_file() for name in _PROCESSOR_CONFIGS):
            return model, loader.from_pretrained(folder)
    raise FileNotFoundError(
        f"no processor config ({', '.join(_PROCESSOR_CONFIGS)}) in {' or '.join(str(c) for c in candidates)}; "
        "pass the folder the processor was saved to (Trainer saves it only when given processing_class)"
    )


def convert_trainer_checkpoint(
    checkpoint_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    processor_path: str | os.PathLike | None = None,
    metrics: dict[str, Any] | None = None,
    **export_kwargs: Any,
) -> Path:
    """Turn a ``Trainer`` output folder or ``checkpoint-N`` folder into a clean Hub checkpoint in ``out_dir``.

    Keeps the weights (re-saved as safetensors), config and processor; drops optimizer, scheduler, RNG state and the
    pickled ``training_args.bin``. ``metrics`` default to the last evaluation in ``trainer_state.json``.
    """
    checkpoint = find_trainer_checkpoint(checkpoint_dir)
    model, processor = load_checkpoint(checkpoint, processor_path)
    if metrics is None:
        metrics = _last_eval_metrics(checkpoint)
    return export_checkpoint(model, processor, out_dir, metrics, **export_kwargs)


def _is_exported(folder: Path) -> bool:
    """A folder to upload as it is: card, config with ``auto_map`` and no pickle files (a Trainer output folder has
    the first two as well, but also ``training_args.bin`` and checkpoints: it is converted first)."""
    config = folder / "config.json"
    return (folder / "README.md").is_file() and config.is_file() and \
        "auto_map" in json.loads(config.read_text(encoding="utf-8")) and not pickle_files(folder)


def _upload_folder(folder: Path, repo_id: str, *, token, private, revision, create_pr, commit_message):
    """Create the repo (and branch) when missing and upload ``folder`` in one commit; refuses pickle files."""
    from huggingface_hub import HfApi

    leftovers = pickle_files(folder)
    if leftovers:
        raise ValueError(f"refusing to push pickle files (safetensors only): {[str(p) for p in leftovers]}")
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    if revision not in (None, "main"):
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    info = api.upload_folder(repo_id=repo_id, folder_path=str(folder), revision=revision, create_pr=create_pr,
                             commit_message=commit_message)
    logger.info("pushed %s to %s", folder, info.commit_url)
    return info


def push_checkpoint(
    model_or_path,
    repo_id: str,
    processor=None,
    *,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str | None = None,
    create_pr: bool = False,
    token: str | bool | None = None,
    metrics: dict[str, Any] | None = None,
    **export_kwargs: Any,
):
    """Push a checkpoint to the Hub in one commit and return the ``CommitInfo``.

    ``model_or_path`` is a model (exported with ``processor``), a folder written by :func:`export_checkpoint`
    (uploaded as it is), or a Trainer/saved checkpoint folder (converted first). ``revision`` names a branch, created
    from ``main`` when missing. ``token=None`` uses ``HF_TOKEN`` or the stored login.
    """
    with tempfile.TemporaryDirectory(prefix="bytevid-push-") as tmp:
        if isinstance(model_or_path, (str, os.PathLike)):
            folder = Path(model_or_path)
            if not _is_exported(folder):
                folder = convert_trainer_checkpoint(folder, Path(tmp) / "export", metrics=metrics, repo_id=repo_id,
                                                    **export_kwargs)
            elif metrics is not None or export_kwargs:
                raise ValueError(f"{folder} is already an exported checkpoint; metrics and card options were fixed "
                                 "when it was exported")
        else:
            folder = export_checkpoint(model_or_path, processor, Path(tmp) / "export", metrics, repo_id=repo_id,
                                       **export_kwargs)
        return _upload_folder(folder, repo_id, token=token, private=private, revision=revision, create_pr=create_pr,
                              commit_message=commit_message or "Upload bytevid checkpoint")


def push_model(
    model,
    repo_id: str,
    *,
    commit_message: str | None = None,
    commit_description: str | None = None,
    private: bool | None = None,
    token: str | bool | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    max_shard_size: int | str | None = "50GB",
    tags: list[str] | None = None,
    metrics: dict[str, Any] | None = None,
    dataset_name: str = "unspecified",
    datasets: list[str] | None = None,
    base_model: str | None = None,
    license: str = "apache-2.0",  # noqa: A002 - the Hub's field name
):
    """What ``model.push_to_hub(repo_id, ...)`` runs for a bytevid model once ``bytevid_hf`` is imported.

    transformers' own ``push_to_hub`` uploads the weights and config with a generic card (no ``pipeline_tag``, no
    ``library_name`` beyond transformers', no code), so the repo loads only where ``bytevid_hf`` is imported. This
    uploads, in one commit, the weights (safetensors), ``config.json`` with ``auto_map``, the model code (written by
    transformers' ``register_for_auto_class`` + ``save_pretrained``) and the package's model card
    (:func:`~bytevid_hf.hub.model_card.render_model_card`: ``library_name``, ``pipeline_tag``, ``model-index`` with
    ``metrics``). Files already in the repo (e.g. the processor of ``processor.push_to_hub``) are kept. Takes
    transformers' ``push_to_hub`` arguments plus the card's; returns the ``CommitInfo``.
    """
    from huggingface_hub import HfApi

    pairs = auto_classes_for(model)
    model_tags = list(getattr(model, "model_tags", None) or [])
    tags = list(dict.fromkeys([*model_tags, *([tags] if isinstance(tags, str) else tags or [])]))
    api = HfApi(token=token)
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
    if revision not in (None, "main"):
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bytevid-push-") as tmp:
        with registered_for_auto_classes(pairs):
            model.save_pretrained(tmp, max_shard_size=max_shard_size)
        write_checkpoint_card(tmp, model, metrics, repo_id=repo_id, dataset_name=dataset_name, datasets=datasets,
                              base_model=base_model, license=license, tags=tags or None)
        leftovers = pickle_files(tmp)
        if leftovers:
            raise RuntimeError(f"push_model: pickle files in the saved model: {[p.name for p in leftovers]}")
        return api.upload_folder(repo_id=repo_id, folder_path=tmp, revision=revision, create_pr=create_pr,
                                 commit_message=commit_message or "Upload model",
                                 commit_description=commit_description)


def write_checkpoint_card(
    folder: str | os.PathLike,
    model,
    metrics: dict[str, Any] | None = None,
    *,
    repo_id: str | None = None,
    **card_kwargs: Any,
) -> Path:
    """Write the package's model card for ``model`` (saved in ``folder``) to ``folder/README.md``; the parameter count
    is read from the folder's safetensors files."""
    folder = Path(folder)
    card = render_model_card(
        model.config, clean_metrics(metrics), repo_id or folder.resolve().name,
        card_kwargs.pop("dataset_name", "unspecified"), card_kwargs.pop("notes", ""),
        count_safetensors_parameters(folder), architecture=type(model).__name__, **card_kwargs,
    )
    path = folder / "README.md"
    path.write_text(card, encoding="utf-8")
    return path


def install_push_to_hub() -> None:
    """Make ``model.push_to_hub`` of the bytevid model classes publish with :func:`push_model` (called by
    ``import bytevid_hf``; idempotent). The classes look for the publisher on themselves, so remote-code copies of
    them, where ``bytevid_hf`` is absent, keep transformers' own ``push_to_hub``."""
    from ..modeling.modeling_bytevid import BytesVideoPreTrainedModel
    from ..modeling.modeling_qa import BytesVideoGemmaPreTrainedModel

    BytesVideoPreTrainedModel.hub_publisher = staticmethod(push_model)
    BytesVideoGemmaPreTrainedModel.hub_publisher = staticmethod(push_model)


def push_adapter(
    adapter_or_path,
    repo_id: str,
    *,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str | None = None,
    create_pr: bool = False,
    token: str | bool | None = None,
):
    """Push a peft adapter (a ``PeftModel`` or its ``save_pretrained`` folder) to the Hub in one commit.

    The folder must hold ``adapter_config.json`` and ``adapter_model.safetensors`` (pickle adapters are refused). Load
    it back with ``PeftModel.from_pretrained(base_model, repo_id)``.
    """
    with tempfile.TemporaryDirectory(prefix="bytevid-adapter-") as tmp:
        if isinstance(adapter_or_path, (str, os.PathLike)):
            folder = Path(adapter_or_path)
        else:
            folder = Path(tmp) / "adapter"
            adapter_or_path.save_pretrained(folder)
        if not (folder / "adapter_config.json").is_file() or not (folder / "adapter_model.safetensors").is_file():
            raise FileNotFoundError(f"{folder} is not a peft adapter folder (adapter_config.json + "
                                    "adapter_model.safetensors)")
        return _upload_folder(folder, repo_id, token=token, private=private, revision=revision, create_pr=create_pr,
                              commit_message=commit_message or "Upload bytevid LoRA adapter")


__all__ = [
    "PICKLE_PATTERNS", "auto_classes_for", "convert_trainer_checkpoint", "export_checkpoint", "find_trainer_checkpoint",
    "install_push_to_hub", "load_checkpoint", "pickle_files", "push_adapter", "push_checkpoint", "push_model",
    "write_checkpoint_card",
]
