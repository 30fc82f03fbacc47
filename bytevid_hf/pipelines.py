"""A ``video-classification`` pipeline for byte models: names the input that failed, can skip bad inputs, and
streams long videos.

transformers' :class:`~transformers.VideoClassificationPipeline` preprocesses a list of videos one by one inside a
``DataLoader``; the first bad file raises out of ``list(iterator)``, the results of the other videos are lost, and the
error does not say which list position failed. Its ``preprocess`` sees one video at a time, so neither the processor
nor a ``preprocess`` override can know the position or leave a hole in the output — hence this subclass, which
overrides ``__call__``:

* ``on_error="raise"`` (default): a bad input raises its
  :class:`~bytevid_hf.processing.errors.VideoInputError` with the message prefixed by ``inputs[i]: `` and
  ``error.index == i`` (the message already names the path and the reason); any other exception gets a note naming
  the index and input.
* ``on_error="skip"``: bad inputs (a ``VideoInputError``, or a PyAV decode error for models that decode frames)
  produce ``None`` at their position — the output stays aligned with the inputs — and one
  :class:`SkippedVideoInputsWarning` lists every skipped index, input and reason (its ``errors`` attribute holds
  ``(index, exception)`` pairs). Programming errors (``TypeError``, ...) are never skipped.
* inputs longer than ``streaming_threshold`` bytes run through ``model.stream`` (the same logits, memory independent
  of the length, a progress bar): the model's ``forward`` never switches modes by itself.

It also forwards ``max_input_bytes`` and ``decode_timeout`` (per call or at construction) to a
:class:`~bytevid_hf.processing.BytesVideoProcessor`.

It is used by asking for it — ``pipeline("video-classification", model=..., pipeline_class=
BytesVideoClassificationPipeline)`` — so importing bytevid_hf changes nothing for other models; plain
``pipeline("video-classification", model=<bytevid checkpoint>)`` runs transformers' own class.
"""

from __future__ import annotations

import types
import warnings
from typing import Any

from transformers.models.auto.modeling_auto import MODEL_FOR_VIDEO_CLASSIFICATION_MAPPING
from transformers.pipelines.video_classification import VideoClassificationPipeline

from .processing import BytesVideoProcessor
from .processing.errors import VideoInputError
from .processing.io import describe_video

__all__ = [
    "BytesVideoClassificationPipeline",
    "SkippedVideoInputsWarning",
    "ON_ERROR_MODES",
    "DEFAULT_STREAMING_THRESHOLD",
]

#: Accepted values of ``on_error``.
ON_ERROR_MODES: tuple[str, ...] = ("raise", "skip")
#: Inputs longer than this many bytes are classified with ``model.stream`` (2 MiB).
DEFAULT_STREAMING_THRESHOLD = 2_097_152

# Processor settings the pipeline forwards per call (preprocess params).
_PROCESSOR_OVERRIDES: tuple[str, ...] = ("max_input_bytes", "decode_timeout")


class SkippedVideoInputsWarning(UserWarning):
    """Warned once per call when ``on_error="skip"`` skipped inputs.

    Attributes:
        errors: ``[(index, exception), ...]`` for every skipped input, in input order.
    """

    def __init__(self, message: str, errors: list[tuple[int | None, BaseException]]) -> None:
        super().__init__(message)
        self.errors = errors


def _check_on_error(on_error: Any) -> str:
    if on_error not in ON_ERROR_MODES:
        raise ValueError(f"on_error must be one of {list(ON_ERROR_MODES)}, got {on_error!r}")
    return on_error


def _is_bad_input(error: BaseException) -> bool:
    """Errors caused by the input's content or file, which ``on_error="skip"`` may skip."""
    if isinstance(error, VideoInputError):
        return True
    try:  # models that decode frames themselves (image-processor path) raise PyAV's errors
        import av.error

        return isinstance(error, av.error.FFmpegError)
    except ImportError:  # pragma: no cover - av is a dependency
        return False


def _is_stream(inputs: Any) -> bool:
    """Generators and datasets, which the parent pipeline also consumes lazily."""
    if isinstance(inputs, types.GeneratorType):
        return True
    try:
        from datasets import Dataset
    except ImportError:  # pragma: no cover - datasets is a dependency
        return False
    return isinstance(inputs, Dataset)


def _describe(item: Any) -> str:
    return describe_video(item) if not isinstance(item, dict) else f"<dict with keys {sorted(item)}>"


class BytesVideoClassificationPipeline(VideoClassificationPipeline):
    """``VideoClassificationPipeline`` with per-input error reporting and an opt-in skip of bad inputs.

    Args (besides the parent's):
        on_error: ``"raise"`` (default) or ``"skip"``; the default for every call (override per call).
        streaming_threshold: inputs longer than this many bytes (default 2 MiB) are classified with ``model.stream``
            in chunks of ``config.streaming_chunk_size``; ``None`` never streams. Byte models only.
        max_input_bytes, decode_timeout: default processor overrides for every call (see
            :class:`~bytevid_hf.processing.BytesVideoProcessor`); ``None`` keeps the processor's setting.

    Call arguments: the parent's (``top_k``, ``function_to_apply``, ...) plus ``on_error``,
    ``max_input_bytes`` and ``decode_timeout``.

    Returns: as the parent — one list of ``{"label", "score"}`` dicts per video — with ``None`` at
    the position of each skipped input.
    """

    def __init__(
        self, *args: Any, on_error: str = "raise", streaming_threshold: int | None = DEFAULT_STREAMING_THRESHOLD,
        **kwargs: Any,
    ) -> None:
        self.on_error = _check_on_error(on_error)
        if streaming_threshold is not None and (
            isinstance(streaming_threshold, bool) or not isinstance(streaming_threshold, int) or streaming_threshold < 1
        ):
            raise ValueError(f"streaming_threshold must be a positive number of bytes or None, got {streaming_threshold!r}")
        self.streaming_threshold = streaming_threshold
        super().__init__(*args, **kwargs)

    def check_model_type(self, supported_models):
        """The parent checks a table of transformers' own model names; a model registered for its config with
        ``AutoModelForVideoClassification.register`` (as bytevid's are) is supported too, not reported as an error."""
        try:
            registered = MODEL_FOR_VIDEO_CLASSIFICATION_MAPPING[type(self.model.config)]
        except KeyError:
            registered = None
        if not (isinstance(registered, type) and isinstance(self.model, registered)):
            super().check_model_type(supported_models)

    def _forward(self, model_inputs):
        input_ids = model_inputs.get("input_ids")
        stream = getattr(self.model, "stream", None)
        if (
            self.streaming_threshold is not None
            and callable(stream)
            and input_ids is not None
            and input_ids.shape[-1] > self.streaming_threshold
        ):
            if input_ids.shape[0] != 1:
                raise ValueError(f"streaming classifies one video at a time, got a batch of {input_ids.shape[0]}")
            return stream(input_ids[0])  # the bytes are already in memory; stream() reads them chunk by chunk
        return super()._forward(model_inputs)

    # ------------------------------------------------------------------ parameters

    def _sanitize_parameters(self, top_k=None, num_frames=None, frame_sampling_rate=None, function_to_apply=None,
                             max_input_bytes=None, decode_timeout=None):
        preprocess, forward, postprocess = super()._sanitize_parameters(
            top_k=top_k, num_frames=num_frames, frame_sampling_rate=frame_sampling_rate,
            function_to_apply=function_to_apply,
        )
        overrides = {"max_input_bytes": max_input_bytes, "decode_timeout": decode_timeout}
        overrides = {key: value for key, value in overrides.items() if value is not None}
        if overrides:
            if not isinstance(self.video_processor, BytesVideoProcessor):
                raise ValueError(
                    f"{sorted(overrides)} only apply to a BytesVideoProcessor; this pipeline's video processor is "
                    f"{type(self.video_processor).__name__}"
                )
            preprocess["processor_kwargs"] = overrides
        return preprocess, forward, postprocess

    def preprocess(self, video, num_frames=None, frame_sampling_rate=1, processor_kwargs=None):
        if not processor_kwargs:
            return super().preprocess(video, num_frames=num_frames, frame_sampling_rate=frame_sampling_rate)
        if num_frames is None:
            num_frames = self.model.config.num_frames
        return self.video_processor(
            video, num_frames=num_frames, do_sample_frames=True, return_tensors="pt", **processor_kwargs
        ).to(self.dtype)

    # ------------------------------------------------------------------ calling

    def __call__(self, inputs=None, on_error: str | None = None, **kwargs: Any):
        """Classify one video or a list of videos (paths, or anything the video processor accepts).

        Args:
            inputs: one video or a list/tuple of videos; generators and datasets are processed lazily.
            on_error: ``"raise"`` or ``"skip"`` (default: the value given at construction).
            **kwargs: ``top_k``, ``function_to_apply``, ``num_frames``, ``max_input_bytes``,
                ``decode_timeout`` (see the class docstring); ``batch_size`` / ``num_workers`` are
                accepted for bytevid models but inputs are processed one at a time (they differ in length).

        Raises:
            VideoInputError: with ``on_error="raise"``, for the first bad input, its message prefixed with
                ``inputs[i]: `` for list inputs.
        """
        on_error = _check_on_error(self.on_error if on_error is None else on_error)
        if inputs is None:
            raise ValueError("Cannot call the video-classification pipeline without an inputs argument!")
        if on_error == "raise" and not isinstance(self.video_processor, BytesVideoProcessor):
            return super().__call__(inputs, **kwargs)  # other models: the parent's behaviour, unchanged
        kwargs.pop("batch_size", None)
        kwargs.pop("num_workers", None)
        preprocess, forward, postprocess = self._sanitize_parameters(**kwargs)
        preprocess = {**self._preprocess_params, **preprocess}
        forward = {**self._forward_params, **forward}
        postprocess = {**self._postprocess_params, **postprocess}
        self.call_count += 1
        params = (preprocess, forward, postprocess, on_error)

        if isinstance(inputs, (list, tuple)):
            skipped: list[tuple[int | None, BaseException]] = []
            outputs = [self._run_one(item, i, *params, skipped) for i, item in enumerate(inputs)]
            _warn_skipped(skipped)
            return outputs
        if _is_stream(inputs):
            return self._iterate(iter(inputs), params)  # generator / dataset: lazy, warns per skipped item
        skipped = []
        output = self._run_one(inputs, None, *params, skipped)
        _warn_skipped(skipped)
        return output

    def _iterate(self, iterator, params):
        for i, item in enumerate(iterator):
            skipped: list[tuple[int | None, BaseException]] = []
            output = self._run_one(item, i, *params, skipped)
            _warn_skipped(skipped)
            yield output

    def _run_one(self, item, index, preprocess, forward, postprocess, on_error, skipped):
        """Preprocess, forward and postprocess one input; a bad input raises (indexed) or is skipped."""
        try:
            model_inputs = self.preprocess(item, **preprocess)
        except Exception as error:
            if isinstance(error, VideoInputError) and index is not None:
                indexed = error.with_batch_index(index, "inputs")
            else:
                indexed = error
                if index is not None:
                    error.add_note(f"(while preprocessing pipeline inputs[{index}]: {_describe(item)})")
            if on_error == "skip" and _is_bad_input(error):
                skipped.append((index, indexed))
                return None
            if indexed is error:
                raise
            raise indexed from error
        model_outputs = self.forward(model_inputs, **forward)
        return self.postprocess(model_outputs, **postprocess)


def _warn_skipped(skipped: list[tuple[int | None, BaseException]]) -> None:
    if not skipped:
        return
    lines = "\n".join(f"  {error}" for _, error in skipped)
    warnings.warn(
        SkippedVideoInputsWarning(
            f"video-classification skipped {len(skipped)} bad input(s) (their results are None):\n{lines}", skipped
        ),
        stacklevel=3,
    )
