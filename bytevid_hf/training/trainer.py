"""``BytesVideoTrainer``: transformers' ``Trainer`` whose saved folders and Hub pushes are complete bytevid checkpoints.

Every Trainer this package builds (fine-tuning, pre-training, long-video training, video QA) is one of these, given
the processor as ``processing_class``. What it adds to ``Trainer``, through Trainer's own extension points:

* ``save_model`` (also every ``checkpoint-N``): the model is saved with its classes registered for the Auto classes
  (``register_for_auto_class``, undone afterwards) and the processor's ``save_pretrained`` ships its code, so the
  folder holds ``auto_map`` entries and the model + processor code; the package's model card goes to ``README.md``
  (:func:`bytevid_hf.hub.write_checkpoint_card`: ``library_name``, ``pipeline_tag``, ``model-index`` with the last
  evaluation). ``pipeline("video-classification", model=folder)`` loads it, with ``import bytevid_hf`` or with
  ``trust_remote_code=True``.
* ``create_model_card`` (what ``push_to_hub`` writes): the same card instead of transformers' generic training summary.
* ``push_to_hub`` (``--push_to_hub``, ``trainer.push_to_hub()``, ``save_model`` with ``push_to_hub=True``): as
  Trainer's, but pickle files (``training_args.bin``, ...) are neither uploaded nor left in the repo, as for every
  checkpoint this package publishes; in-training pushes (``hub_strategy``) carry the card and the code too.

A model that is not a bytevid model (e.g. a peft wrapper) is saved and pushed exactly as by ``Trainer``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from transformers import Trainer


class BytesVideoTrainer(Trainer):
    """``Trainer`` whose saved folders and pushes are complete bytevid checkpoints (see the module docstring).

    Args:
        card_kwargs: model-card fields beyond the metrics: ``dataset_name`` (a description of the data),
            ``datasets`` (Hub dataset ids), ``base_model`` (the checkpoint this one starts from), ``license``,
            ``notes``, ``tags``.
        *args, **kwargs: ``Trainer``'s; pass the processor as ``processing_class``.
    """

    def __init__(self, *args: Any, card_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.card_kwargs = dict(card_kwargs or {})

    # ------------------------------------------------------------------ what a bytevid checkpoint holds

    def _bytevid_model(self):
        """The unwrapped model when it is a bytevid model (its card and code can be written), else ``None``."""
        from ..hub import auto_classes_for

        model = self.accelerator.unwrap_model(self.model, keep_torch_compile=False)
        try:
            auto_classes_for(model)
        except TypeError:
            return None
        return model

    def _code_classes(self, model) -> list[tuple[type, str]]:
        """The classes to register for the Auto classes while saving: the config and the model (a bytevid processor
        registers itself in its own ``save_pretrained``)."""
        from ..hub import auto_classes_for

        return [] if model is None else auto_classes_for(model)

    def card_repo_id(self) -> str:
        """The repo id the model card's snippets name: the Hub repo, else the output folder's name."""
        return getattr(self, "hub_model_id", None) or self.args.hub_model_id or \
            Path(self.args.output_dir).resolve().name

    def last_eval_metrics(self) -> dict[str, float]:
        """The metrics of the last evaluation in the log history (``eval_`` prefix and throughput removed)."""
        from ..hub.model_card import clean_metrics

        for entry in reversed(self.state.log_history):
            evals = {key: value for key, value in entry.items() if key.startswith("eval_")}
            if evals:
                return clean_metrics(evals)
        return {}

    def write_card(self, folder: str | Path, **card_kwargs: Any) -> Path | None:
        """Write the package's model card for the trained model to ``folder/README.md`` (a saved model folder)."""
        from ..hub import write_checkpoint_card

        model = self._bytevid_model()
        if model is None:
            return None
        kwargs = {**self.card_kwargs, **{key: value for key, value in card_kwargs.items() if value is not None}}
        return write_checkpoint_card(folder, model, self.last_eval_metrics(), repo_id=self.card_repo_id(), **kwargs)

    # ------------------------------------------------------------------ Trainer's extension points

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Trainer's ``save_model`` (also what every ``checkpoint-N`` is saved with) with the model's classes registered
        for the Auto classes while it runs, then the package's card. A checkpoint saved while Trainer pushes during
        training (``hub_strategy`` other than ``end``) also gets its code and card copied to ``output_dir``, the folder
        Trainer uploads next, so every pushed revision loads (Trainer itself copies only weights and config there and
        re-saves the processor, whose ``save_pretrained`` ships its code)."""
        from ..hub import registered_for_auto_classes

        folder = Path(output_dir if output_dir is not None else self.args.output_dir)
        model = self._bytevid_model()
        with registered_for_auto_classes(self._code_classes(model)):
            super().save_model(str(folder), _internal_call=_internal_call)
        if model is None or not self.args.should_save:
            return
        self.write_card(folder)
        output_root = Path(self.args.output_dir)
        pushes_now = self.args.push_to_hub and self.args.hub_strategy != "end"
        if pushes_now and folder.resolve() != output_root.resolve():
            output_root.mkdir(parents=True, exist_ok=True)
            for source in [*folder.glob("*.py"), folder / "README.md"]:
                if source.is_file():
                    shutil.copy(source, output_root / source.name)

    def create_model_card(
        self,
        language: str | None = None,
        license: str | None = None,  # noqa: A002 - Trainer's argument name
        tags: str | list[str] | None = None,
        model_name: str | None = None,
        finetuned_from: str | None = None,
        tasks: str | list[str] | None = None,
        dataset_tags: str | list[str] | None = None,
        dataset: str | list[str] | None = None,
        dataset_args: str | list[str] | None = None,
    ) -> None:
        """The package's model card in ``output_dir/README.md`` (Trainer's arguments map onto its fields:
        ``finetuned_from`` → ``base_model``, ``dataset`` → ``datasets``); Trainer's own card for other models."""
        if self._bytevid_model() is None:
            return super().create_model_card(language, license, tags, model_name, finetuned_from, tasks,
                                             dataset_tags, dataset, dataset_args)
        if not self.is_world_process_zero():
            return None
        datasets = [dataset] if isinstance(dataset, str) else dataset
        self.write_card(self.args.output_dir, license=license, base_model=finetuned_from, datasets=datasets,
                        tags=[tags] if isinstance(tags, str) else tags)
        return None

    def push_to_hub(
        self,
        commit_message: str | None = "End of training",
        blocking: bool = True,
        token: str | None = None,
        revision: str | None = None,
        private: bool | None = None,
        **kwargs: Any,
    ):
        """Trainer's ``push_to_hub`` (save the model and processor, write the card, upload ``output_dir`` without
        ``checkpoint-*``), except that pickle files are not uploaded and are deleted from the repo if an in-training
        push left any there."""
        from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
        from transformers.utils.hub import hf_api

        from ..hub import PICKLE_PATTERNS

        self.callback_handler.on_push_begin(self.args, self.state, self.control)
        model_name = kwargs.pop("model_name", None)
        if model_name is None and self.args.should_save:
            model_name = Path(self.args.output_dir).name if self.args.hub_model_id is None \
                else self.args.hub_model_id.split("/")[-1]
        token = token if token is not None else self.args.hub_token
        if self.hub_model_id is None:
            self.init_hf_repo(token=token, private=private)
        self.save_model(_internal_call=True)
        if not self.is_world_process_zero():
            return None
        if getattr(self.model, "model_tags", None) is not None:
            tags = kwargs.get("tags") or []
            tags = [tags] if isinstance(tags, str) else list(tags)
            kwargs["tags"] = tags + [tag for tag in self.model.model_tags if tag not in tags]
        self.create_model_card(model_name=model_name, **kwargs)
        if revision is None:
            revision = self.args.hub_revision
        self._finish_current_push()
        return hf_api().upload_folder(
            repo_id=self.hub_model_id,
            folder_path=self.args.output_dir,
            commit_message=commit_message,
            token=token,
            run_as_future=not blocking,
            ignore_patterns=["_*", f"{PREFIX_CHECKPOINT_DIR}-*", *PICKLE_PATTERNS],
            delete_patterns=list(PICKLE_PATTERNS),
            revision=revision,
        )


__all__ = ["BytesVideoTrainer"]
