"""Hugging Face video processor that turns encoded videos into byte sequences (``input_ids``).

By default (``input_format="encoded"``) :class:`BytesVideoProcessor` never decodes frames: a
video's ``input_ids`` are the bytes of its container file (optionally after canonical re-encoding
with :func:`.transcode.transcode_video`), right-padded with byte 0 into a ``[batch, length]``
``uint8`` tensor plus an ``attention_mask``. With ``input_format="jpeg"`` the inputs are JPEG bytes
instead (:mod:`.jpeg`): one JPEG per image, or a video's frames as concatenated JPEGs — the
paper's JPEG pre-training setting (Table 11).
"""

from __future__ import annotations

import copy
import math
from numbers import Real
from typing import Any

import numpy as np
from transformers.image_processing_utils import BatchFeature
from transformers.processing_utils import VideosKwargs
from transformers.video_processing_utils import BaseVideoProcessor

from .auto_registration import registered_for
from .deadline import DEFAULT_DECODE_TIMEOUT, check_timeout
from .errors import VideoInputError
from .io import read_video_bytes
from .jpeg import (
    DEFAULT_JPEG_QUALITY,
    _is_tensor,
    encode_jpeg,
    frames_to_jpeg_bytes,
    validate_jpeg_settings,
    video_to_jpeg_bytes,
)
from .transcode import CANONICAL_SETTINGS, transcode_video, validate_transcode_settings

__all__ = ["BytesVideoProcessor", "BytesVideoKwargs", "INPUT_FORMATS", "DEFAULT_MAX_INPUT_BYTES", "SETTING_MAXIMUMS"]

#: Default ``max_input_bytes``: 2 GiB. The processor holds each input in memory (and the padded
#: batch once more), so an unbounded default would let one huge or endless input exhaust memory.
#: Longer videos go through ``model.stream(...)``, which reads in chunks; ``None`` lifts the limit.
DEFAULT_MAX_INPUT_BYTES: int = 2 * 1024**3

#: What ``input_ids`` hold: ``"encoded"`` — the bytes of each video file (default);
#: ``"jpeg"`` — JPEG bytes of each image, or of each video's frames, concatenated.
INPUT_FORMATS: tuple[str, ...] = ("encoded", "jpeg")


class BytesVideoKwargs(VideosKwargs, total=False):
    """Keyword arguments of :class:`BytesVideoProcessor` (settings and per-call overrides).

    Extends transformers' ``VideosKwargs`` so that the standard frame-processing keys are still
    recognised (and ignored). ``size`` and ``fps`` are *redefined*: here they are the transcoding
    target (shorter side in pixels, output frame rate), not frame resizing / sampling options.

    Attributes:
        max_length: maximum number of bytes per video (``None`` = no limit).
        truncation: keep the first ``max_length`` bytes of longer videos (default: ``True`` when
            ``max_length`` is set); if ``False``, longer videos raise ``ValueError``.
        padding: ``"longest"`` (default, also ``True``), ``"max_length"``, or ``False`` /
            ``"do_not_pad"``.
        pad_to_multiple_of: round the padded length up to a multiple of this.
        transcode: re-encode every video with :func:`transcode_video` before reading its bytes.
        codec, container, size, bitrate, fps, keep_audio: transcoding settings (defaults are
            :data:`CANONICAL_SETTINGS`).
        max_input_bytes: reject inputs larger than this many bytes with
            :class:`~.errors.VideoTooLargeError` (default 2 GiB, :data:`DEFAULT_MAX_INPUT_BYTES`;
            ``None`` = unlimited).
        decode_timeout: wall-clock deadline in seconds for decoding/transcoding one video
            (``transcode=True`` or JPEG mode; default 600 s; ``None`` = none); a video that runs
            past it raises :class:`~.errors.VideoDecodeTimeoutError`.
        input_format: ``"encoded"`` (default: the encoded file's bytes) or ``"jpeg"`` (JPEG bytes of
            images, or of a video's frames concatenated; see :mod:`.jpeg`).
        jpeg_quality: JPEG quality 1..100 in ``"jpeg"`` mode (default 75).
        jpeg_size: in ``"jpeg"`` mode, resize every image/frame so its shorter side is this many
            pixels (>= 8; ``None`` = keep the size).
        jpeg_num_frames: in ``"jpeg"`` mode, keep this many frames per video, the centre frame of
            each of ``jpeg_num_frames`` equal segments (``None`` = all frames).
        jpeg_fps: in ``"jpeg"`` mode, resample encoded videos to this constant frame rate before
            ``jpeg_num_frames`` is applied (``None`` = the decoded frames as they are).
        jpeg_max_seconds: in ``"jpeg"`` mode, only use the first ``jpeg_max_seconds`` seconds of
            encoded videos (``None`` = everything).
    """

    max_length: int | None
    truncation: bool | None
    padding: bool | str | None
    pad_to_multiple_of: int | None
    transcode: bool | None
    codec: str | None
    container: str | None
    size: int | None
    bitrate: int | None
    fps: int | float | None
    keep_audio: bool | None
    max_input_bytes: int | None
    decode_timeout: int | float | None
    input_format: str | None
    jpeg_quality: int | None
    jpeg_size: int | None
    jpeg_num_frames: int | None
    jpeg_fps: int | float | None
    jpeg_max_seconds: int | float | None


#: The processor's own settings, in the order they are saved.
SETTING_NAMES: tuple[str, ...] = (
    "max_length",
    "truncation",
    "padding",
    "pad_to_multiple_of",
    "transcode",
    "codec",
    "container",
    "size",
    "bitrate",
    "fps",
    "keep_audio",
    "max_input_bytes",
    "decode_timeout",
    "input_format",
    "jpeg_quality",
    "jpeg_size",
    "jpeg_num_frames",
    "jpeg_fps",
    "jpeg_max_seconds",
)
_TRANSCODE_KEYS = ("codec", "container", "size", "bitrate", "fps", "keep_audio")
_JPEG_KEYS = ("quality", "size", "num_frames", "fps", "max_seconds")  # settings "jpeg_<key>"

#: Standard transformers video kwargs that are accepted and ignored (the byte model reads every
#: frame, so frame sampling/resizing/normalisation have no meaning here). ``device`` is honoured.
IGNORED_VIDEO_KWARGS: frozenset[str] = frozenset(VideosKwargs.__annotations__) - set(SETTING_NAMES) - {
    "return_tensors"
}

# Keys that transformers writes into / passes with saved configs; not settings.
_METADATA_KEYS = ("video_processor_type", "image_processor_type", "processor_class", "feature_extractor_type")

_PADDING_ALIASES = {
    True: "longest",
    "longest": "longest",
    "max_length": "max_length",
    False: "do_not_pad",
    "do_not_pad": "do_not_pad",
}


#: Upper bounds of the byte-count settings. A saved processor config (``video_preprocessor_config.json``, e.g. from
#: the Hub) is untrusted input, so every setting is checked against bounds no real use reaches, and a hostile value
#: fails when the processor is made, with an error naming the setting and its bound. ``max_length`` with
#: ``padding="max_length"`` and ``pad_to_multiple_of`` size the padded batch, allocated up front; ``max_input_bytes``
#: is a limit (``None`` lifts it), bounded at 1 TiB so that a config cannot pass it off as one. The transcoding and
#: JPEG settings have their own bounds (:data:`~.frame_size.MAX_SHORT_SIDE` for ``size`` / ``jpeg_size``,
#: :data:`~.transcode.MAX_BITRATE`, :data:`~.frame_rate.MAX_FPS` for ``fps`` / ``jpeg_fps``,
#: :data:`~.jpeg.MAX_JPEG_NUM_FRAMES`).
SETTING_MAXIMUMS: dict[str, int] = {
    "max_length": 2**32,  # 4 GiB per video, twice the default max_input_bytes
    "pad_to_multiple_of": 2**20,  # 1 MiB; the models' pooling factors are 4**levels (64 for bytes-tiny)
    "max_input_bytes": 2**40,  # 1 TiB
}


def _check_optional_positive_int(key: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{key} must be a positive int or None, got {type(value).__name__} {value!r}")
    maximum = SETTING_MAXIMUMS.get(key)
    if value < 1:
        raise ValueError(f"{key} must be a positive int or None, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{key} must be an int from 1 to {maximum} or None, got {value}")
    return int(value)


def _normalize_padding(padding: Any) -> str:
    value = getattr(padding, "value", padding)  # transformers' PaddingStrategy enum
    if isinstance(value, (bool, str)) and value in _PADDING_ALIASES:
        return _PADDING_ALIASES[value]
    raise ValueError(
        f"padding must be 'longest' (or True), 'max_length', or False/'do_not_pad', got {padding!r}"
    )


def _normalize_return_tensors(return_tensors: Any) -> str | None:
    value = getattr(return_tensors, "value", return_tensors)  # transformers' TensorType enum
    if value in (None, "pt", "np"):
        return value
    raise ValueError(f"return_tensors must be 'pt', 'np' or None, got {return_tensors!r}")


def _validate_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise a complete settings dict (all of :data:`SETTING_NAMES`).

    Also rejects ``transcode=True`` together with ``input_format="jpeg"`` (they are two different
    ways of turning a video into bytes).
    """
    out = dict(settings)
    for key in ("max_length", "pad_to_multiple_of", "max_input_bytes"):
        out[key] = _check_optional_positive_int(key, out[key])
    timeout = check_timeout(out["decode_timeout"], "decode_timeout")
    out["decode_timeout"] = None if timeout is None else (int(timeout) if timeout.is_integer() else timeout)
    truncation = out["truncation"]
    if truncation is not None and not isinstance(truncation, (bool, np.bool_)):
        raise TypeError(f"truncation must be a bool or None, got {type(truncation).__name__} {truncation!r}")
    out["truncation"] = None if truncation is None else bool(truncation)
    if not isinstance(out["transcode"], (bool, np.bool_)):
        value = out["transcode"]
        raise TypeError(f"transcode must be a bool, got {type(value).__name__} {value!r}")
    out["transcode"] = bool(out["transcode"])
    out["padding"] = _normalize_padding(out["padding"])
    # JSON-friendly numbers (e.g. numpy ints, Fractions) before validating the transcode settings.
    for key in ("size", "bitrate"):
        if isinstance(out[key], np.integer):
            out[key] = int(out[key])
    fps = out["fps"]
    if isinstance(fps, Real) and not isinstance(fps, bool) and not isinstance(fps, (int, float)):
        out["fps"] = int(fps) if float(fps).is_integer() else float(fps)
    if isinstance(out["keep_audio"], np.bool_):
        out["keep_audio"] = bool(out["keep_audio"])
    out["codec"], out["container"] = validate_transcode_settings(**{k: out[k] for k in _TRANSCODE_KEYS})
    input_format = out["input_format"]
    if not isinstance(input_format, str) or input_format.lower() not in INPUT_FORMATS:
        raise ValueError(f"input_format must be one of {list(INPUT_FORMATS)}, got {input_format!r}")
    out["input_format"] = input_format.lower()
    jpeg = validate_jpeg_settings(**{key: out["jpeg_" + key] for key in _JPEG_KEYS}, prefix="jpeg_")
    out.update({"jpeg_" + key: value for key, value in jpeg.items()})
    if out["input_format"] == "jpeg" and out["transcode"]:
        raise ValueError(
            "transcode=True re-encodes videos into video files and cannot be combined with "
            "input_format='jpeg', which turns frames into JPEGs; set transcode=False (or use "
            "input_format='encoded')"
        )
    return out


def _array_ndim(obj: Any) -> int | None:
    """``ndim`` of a numpy array or torch tensor, else ``None``."""
    return obj.ndim if isinstance(obj, np.ndarray) or _is_tensor(obj) else None


def _is_image(obj: Any) -> bool:
    """A single decoded image (a PIL image or a 2-D/3-D array/tensor), as opposed to a video or an encoded file."""
    from PIL import Image

    return isinstance(obj, Image.Image) or _array_ndim(obj) in (2, 3)


def _is_frame_list(videos: Any) -> bool:
    """A non-empty list/tuple of images only: in JPEG mode, *one* video given as its frames (transformers' video
    processors read a list of frames as one video, and a list of such lists as a batch)."""
    return isinstance(videos, (list, tuple)) and len(videos) > 0 and all(_is_image(v) for v in videos)


def _video_jpeg_bytes(video: Any, settings: dict[str, Any]) -> bytes:
    """JPEG mode: one video (encoded file or decoded frames) as concatenated JPEGs."""
    if isinstance(video, (list, tuple)) or _array_ndim(video) == 4:
        timed = " and ".join(key for key in ("jpeg_fps", "jpeg_max_seconds") if settings[key] is not None)
        if timed:
            raise ValueError(
                f"{timed} need(s) the timestamps of an encoded video, which decoded frames do not have; "
                f"pass the encoded video instead, or unset {timed}"
            )
        return frames_to_jpeg_bytes(
            video,
            quality=settings["jpeg_quality"],
            size=settings["jpeg_size"],
            num_frames=settings["jpeg_num_frames"],
        )
    if _is_image(video):
        shape = f" of shape {tuple(video.shape)}" if hasattr(video, "shape") else ""
        raise ValueError(
            f"Got a single image{shape} as a video; pass images with images=..., or a video as an "
            "encoded file, a 4-D uint8 array (T, H, W, 3) / tensor (T, 3, H, W) or a list of frames"
        )
    return video_to_jpeg_bytes(
        video,
        num_frames=settings["jpeg_num_frames"],
        fps=settings["jpeg_fps"],
        quality=settings["jpeg_quality"],
        size=settings["jpeg_size"],
        max_seconds=settings["jpeg_max_seconds"],
        max_bytes=settings["max_input_bytes"],
        timeout=settings["decode_timeout"],
    )


class BytesVideoProcessor(BaseVideoProcessor):
    r"""Video processor for byte-level video models: encoded file bytes in, ``input_ids`` out.

    No frames are decoded. Each video (a path, bytes, a binary file object, or a 1-D uint8
    array/tensor of encoded bytes — see :func:`read_video_bytes`) becomes the sequence of its file's
    bytes. With ``transcode=True`` every video is first re-encoded into a canonical format with
    :func:`transcode_video` (default: the paper's H.264 mp4, shorter side 384 px, 200 kbit/s,
    25 fps, no audio), so that the model sees consistently encoded files.

    Outputs (:class:`~transformers.BatchFeature`):
        * ``input_ids`` — ``uint8`` ``[batch, length]``, right-padded with byte 0;
        * ``attention_mask`` — ``int64`` ``[batch, length]``, 1 for real bytes, 0 for padding.

    All settings (see :class:`BytesVideoKwargs`) are saved to ``video_preprocessor_config.json``
    by :meth:`save_pretrained`, restored by :meth:`from_pretrained`, and can be overridden per call.
    They are validated whenever a processor is made or called, a downloaded config included: a value of the wrong
    type or outside its bounds (:data:`SETTING_MAXIMUMS`; transcoding ``size`` / ``jpeg_size`` <= 4320,
    ``bitrate`` <= 1 Gbit/s, ``fps`` / ``jpeg_fps`` <= 1000, ``jpeg_num_frames`` <= 10,000) raises at once, naming the
    setting and the bound.
    Standard transformers video kwargs such as ``num_frames`` or ``do_sample_frames`` (used by the
    video-classification pipeline) are accepted and ignored; unknown kwargs raise ``TypeError``.

    **JPEG mode** (``input_format="jpeg"``, the paper's JPEG pre-training inputs): each image
    passed as ``images=`` (PIL image, ``uint8`` array/tensor, or an encoded image file; see
    :func:`~bytevid_hf.processing.jpeg.encode_jpeg`) becomes the bytes of one JPEG
    (``jpeg_quality``, ``jpeg_size``); each video passed as ``videos=`` is decoded with PyAV and
    its frames become concatenated JPEGs
    (:func:`~bytevid_hf.processing.jpeg.video_to_jpeg_bytes`; ``jpeg_num_frames``, ``jpeg_fps``,
    ``jpeg_max_seconds``). A video may also be given as decoded frames: a 4-D ``uint8``
    array ``(T, H, W, 3)`` / tensor ``(T, 3, H, W)`` or a list of images; as in transformers' video
    processors, ``videos=[frame, frame, ...]`` is *one* video and ``videos=[[frame, ...], [frame,
    ...]]`` a batch of two. Padding, truncation and
    the outputs are as in the default mode. ``images=`` in the default mode raises ``ValueError``.
    The standard ``num_frames`` kwarg stays ignored (the pipeline always passes one): use
    ``jpeg_num_frames``.

    Example::

        processor = BytesVideoProcessor(max_length=2**20)
        batch = processor(["a.mp4", "b.mp4"], return_tensors="pt")
        batch["input_ids"].shape  # (2, min(longest file, 2**20))

        jpeg_processor = BytesVideoProcessor(input_format="jpeg", jpeg_quality=75, jpeg_size=224)
        batch = jpeg_processor(images=[pil_image_a, pil_image_b])  # one JPEG per row
        batch = jpeg_processor(videos=["a.mp4"], jpeg_num_frames=8)  # 8 concatenated JPEGs
    """

    model_input_names = ["input_ids", "attention_mask"]
    valid_kwargs = BytesVideoKwargs

    def __init__(
        self,
        max_length: int | None = None,
        truncation: bool | None = None,
        padding: bool | str = "longest",
        pad_to_multiple_of: int | None = None,
        transcode: bool = False,
        codec: str = CANONICAL_SETTINGS["codec"],
        container: str = CANONICAL_SETTINGS["container"],
        size: int = CANONICAL_SETTINGS["size"],
        bitrate: int = CANONICAL_SETTINGS["bitrate"],
        fps: int | float = CANONICAL_SETTINGS["fps"],
        keep_audio: bool = CANONICAL_SETTINGS["keep_audio"],
        max_input_bytes: int | None = DEFAULT_MAX_INPUT_BYTES,
        decode_timeout: int | float | None = DEFAULT_DECODE_TIMEOUT,
        input_format: str = "encoded",
        jpeg_quality: int = DEFAULT_JPEG_QUALITY,
        jpeg_size: int | None = None,
        jpeg_num_frames: int | None = None,
        jpeg_fps: int | float | None = None,
        jpeg_max_seconds: int | float | None = None,
        **kwargs: Any,
    ) -> None:
        for key in _METADATA_KEYS:
            kwargs.pop(key, None)
        auto_map = kwargs.pop("auto_map", None)
        unknown = sorted(set(kwargs) - IGNORED_VIDEO_KWARGS)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unexpected settings {unknown}; valid settings are "
                f"{list(SETTING_NAMES)}"
            )
        settings = _validate_settings(
            {
                "max_length": max_length,
                "truncation": truncation,
                "padding": padding,
                "pad_to_multiple_of": pad_to_multiple_of,
                "transcode": transcode,
                "codec": codec,
                "container": container,
                "size": size,
                "bitrate": bitrate,
                "fps": fps,
                "keep_audio": keep_audio,
                "max_input_bytes": max_input_bytes,
                "decode_timeout": decode_timeout,
                "input_format": input_format,
                "jpeg_quality": jpeg_quality,
                "jpeg_size": jpeg_size,
                "jpeg_num_frames": jpeg_num_frames,
                "jpeg_fps": jpeg_fps,
                "jpeg_max_seconds": jpeg_max_seconds,
            }
        )
        # The base class sets an attribute for every key of valid_kwargs (frame options -> None).
        super().__init__()
        for key, value in settings.items():
            setattr(self, key, value)
        if auto_map is not None:
            self.auto_map = auto_map

    # The base class would turn `size` into a SizeDict (frame resizing); here it is an int.
    def _standardize_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        return kwargs

    @property
    def settings(self) -> dict[str, Any]:
        """The processor's current settings (a copy)."""
        return {key: copy.deepcopy(getattr(self, key)) for key in SETTING_NAMES}

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs: Any):
        """transformers' ``save_pretrained`` (and so ``push_to_hub``, which saves through it), with this class
        registered for ``AutoVideoProcessor`` while it runs: every saved processor holds ``auto_map`` and the
        processor's code, and loads with ``trust_remote_code=True`` where bytevid_hf is not installed. The class's
        registration is restored afterwards."""
        with registered_for(type(self), "AutoVideoProcessor"):
            return super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable settings plus ``video_processor_type`` (and ``auto_map`` when set)."""
        output = self.settings
        output["video_processor_type"] = type(self).__name__
        if getattr(self, "auto_map", None):
            output["auto_map"] = copy.deepcopy(self.auto_map)
        return output

    def __call__(self, videos: Any = None, images: Any = None, **kwargs: Any) -> BatchFeature:
        """Alias of :meth:`preprocess`."""
        return self.preprocess(videos, images=images, **kwargs)

    def preprocess(
        self,
        videos: Any = None,
        return_tensors: str | None = "pt",
        max_length: int | None = None,
        truncation: bool | None = None,
        padding: bool | str | None = None,
        pad_to_multiple_of: int | None = None,
        transcode: bool | None = None,
        images: Any = None,
        **kwargs: Any,
    ) -> BatchFeature:
        """Turn one video or a list of videos (or, in JPEG mode, images) into padded byte sequences.

        Args:
            videos: one video or a list/tuple of videos, each anything :func:`read_video_bytes`
                accepts; with ``input_format="jpeg"`` a video may also be decoded frames (a 4-D
                ``uint8`` array/tensor or a list of images), and a list whose items are all images
                (PIL images, 2-D/3-D arrays/tensors) is one video, not a batch.
            images: only with ``input_format="jpeg"`` (instead of ``videos``): one image or a
                list/tuple (or a 4-D ``uint8`` array/tensor) of images, each anything
                :func:`~bytevid_hf.processing.jpeg.encode_jpeg` accepts.
            return_tensors: ``"pt"`` (torch tensors, default), ``"np"`` (numpy arrays) or ``None``
                (lists of 1-D numpy arrays, one per video; with ``padding=False`` these are the
                unpadded, possibly zero-copy, byte arrays).
            max_length, truncation, padding, pad_to_multiple_of, transcode: override the processor
                settings for this call (``None`` = use the setting).
            **kwargs: per-call overrides of the other settings (``codec``, ``container``, ``size``,
                ``bitrate``, ``fps``, ``keep_audio``, ``max_input_bytes``, ``input_format`` and
                the ``jpeg_*`` settings) and standard
                transformers video kwargs, which are ignored (``num_frames``,
                ``do_sample_frames``, ...) except ``device``, which moves torch outputs.

        Returns:
            ``BatchFeature`` with ``input_ids`` (uint8 ``[B, L]``) and ``attention_mask``
            (int64 ``[B, L]``).

        Raises:
            VideoInputError: a bad input — one of its subclasses (see :mod:`.errors`):
                ``VideoReadError`` (not found, directory, permission denied, not a regular file,
                symlink loop; also an ``OSError``), ``VideoTooLargeError`` (over
                ``max_input_bytes``), ``InvalidVideoError`` (empty; or, when transcoding / in
                JPEG mode, not a video or corrupted), ``VideoDecodeTimeoutError`` (over
                ``decode_timeout``). In a batch the message starts with ``videos[i]: `` and
                ``error.index`` is ``i``; it always names the input and the reason.
            ValueError: empty batch, a video longer than ``max_length`` with ``truncation=False``,
                unequal lengths with ``padding=False`` and tensor output, ``padding="max_length"``
                without ``max_length``, invalid settings, both or neither of ``videos`` and
                ``images``, or ``images`` without ``input_format="jpeg"``.
            TypeError: unknown kwargs or unsupported video types.
        """
        unknown = sorted(set(kwargs) - IGNORED_VIDEO_KWARGS - set(SETTING_NAMES))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword arguments {unknown}; valid ones are "
                f"{list(SETTING_NAMES) + ['return_tensors']} plus the standard transformers video kwargs "
                f"(ignored)"
            )
        device = kwargs.get("device")
        overrides = {
            "max_length": max_length,
            "truncation": truncation,
            "padding": padding,
            "pad_to_multiple_of": pad_to_multiple_of,
            "transcode": transcode,
            **{key: kwargs[key] for key in SETTING_NAMES if key in kwargs},
        }
        settings = self.settings
        settings.update({key: value for key, value in overrides.items() if value is not None})
        settings = _validate_settings(settings)
        return_tensors = _normalize_return_tensors(return_tensors)

        if videos is not None and images is not None:
            raise ValueError("Pass either videos or images, not both")
        if images is not None:
            if settings["input_format"] != "jpeg":
                raise ValueError(
                    f"{type(self).__name__} got images, but input_format={settings['input_format']!r} "
                    "reads the encoded bytes of video files. To turn images into JPEG bytes use "
                    "input_format='jpeg': BytesVideoProcessor(input_format='jpeg'), or per call "
                    "processor(images=..., input_format='jpeg')"
                )
            inputs, kind = images, "images"
            is_batch = isinstance(images, (list, tuple)) or _array_ndim(images) == 4
        elif videos is not None:
            inputs, kind = videos, "videos"
            # A list of frames is one video in JPEG mode; a list of frame lists (or of encoded videos) is a batch.
            is_batch = isinstance(videos, (list, tuple)) and not (
                settings["input_format"] == "jpeg" and _is_frame_list(videos)
            )
        else:
            raise ValueError(
                "No inputs: pass videos (or, with input_format='jpeg', images), e.g. processor(['a.mp4'])"
            )
        batch = list(inputs) if is_batch else [inputs]
        if not batch:
            raise ValueError(f"{kind} is an empty list; pass at least one {kind[:-1]}")
        arrays = [
            self._read_one(item, settings, index=i if is_batch else None, kind=kind) for i, item in enumerate(batch)
        ]
        arrays = self._apply_max_length(arrays, settings, kind=kind)
        return self._pad(arrays, settings, return_tensors, device)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _read_one(item: Any, settings: dict[str, Any], index: int | None, kind: str = "videos") -> np.ndarray:
        """Bytes of one video (transcoded first if requested) or, in JPEG mode, the JPEG bytes of one
        image or video; errors are prefixed with ``{kind}[index]``."""
        try:
            if kind == "images":
                return np.frombuffer(
                    encode_jpeg(
                        item,
                        quality=settings["jpeg_quality"],
                        size=settings["jpeg_size"],
                        max_bytes=settings["max_input_bytes"],
                    ),
                    dtype=np.uint8,
                )
            if settings["input_format"] == "jpeg":
                return np.frombuffer(_video_jpeg_bytes(item, settings), dtype=np.uint8)
            if settings["transcode"]:
                encoded = transcode_video(
                    item,
                    **{key: settings[key] for key in _TRANSCODE_KEYS},
                    max_bytes=settings["max_input_bytes"],
                    timeout=settings["decode_timeout"],
                )
                return np.frombuffer(encoded, dtype=np.uint8)
            return read_video_bytes(item, max_bytes=settings["max_input_bytes"])
        except (OSError, ValueError, TypeError) as e:
            if index is None:
                raise
            if isinstance(e, VideoInputError):
                raise e.with_batch_index(index, kind) from e
            try:
                wrapped = type(e)(f"{kind}[{index}]: {e}")
            except Exception:  # exception types with unusual constructors
                raise e from None
            raise wrapped from e

    @staticmethod
    def _apply_max_length(
        arrays: list[np.ndarray], settings: dict[str, Any], kind: str = "videos"
    ) -> list[np.ndarray]:
        max_length = settings["max_length"]
        if max_length is None:
            return arrays
        truncation = settings["truncation"]
        if truncation is None:
            truncation = True
        out = []
        for i, arr in enumerate(arrays):
            if arr.size > max_length:
                if not truncation:
                    raise ValueError(
                        f"{'Image' if kind == 'images' else 'Video'} {i} is {arr.size} bytes, longer than "
                        f"max_length={max_length}, and truncation=False; enable truncation or raise max_length"
                    )
                arr = arr[:max_length]  # a view: keeps the first max_length bytes without copying
            out.append(arr)
        return out

    @staticmethod
    def _pad(
        arrays: list[np.ndarray],
        settings: dict[str, Any],
        return_tensors: str | None,
        device: Any,
    ) -> BatchFeature:
        lengths = [int(a.size) for a in arrays]
        padding = settings["padding"]
        multiple = settings["pad_to_multiple_of"]

        if padding == "do_not_pad":
            if return_tensors is None:
                masks = [np.ones(n, dtype=np.int64) for n in lengths]
                return BatchFeature({"input_ids": list(arrays), "attention_mask": masks}, tensor_type=None)
            if len(set(lengths)) > 1:
                raise ValueError(
                    f"padding=False requires all videos to have the same length to return tensors, got "
                    f"lengths {lengths}; use padding='longest' or return_tensors=None"
                )
            target = lengths[0]
        elif padding == "max_length":
            if settings["max_length"] is None:
                raise ValueError("padding='max_length' requires max_length to be set")
            target = settings["max_length"]
        else:  # longest
            target = max(lengths)
        if multiple is not None and padding != "do_not_pad":
            target = math.ceil(target / multiple) * multiple

        input_ids = np.zeros((len(arrays), target), dtype=np.uint8)
        attention_mask = np.zeros((len(arrays), target), dtype=np.int64)
        for row, (arr, n) in enumerate(zip(arrays, lengths)):
            input_ids[row, :n] = arr
            attention_mask[row, :n] = 1

        if return_tensors is None:
            data = {"input_ids": list(input_ids), "attention_mask": list(attention_mask)}
        elif return_tensors == "np":
            data = {"input_ids": input_ids, "attention_mask": attention_mask}
        else:
            import torch

            data = {
                "input_ids": torch.from_numpy(input_ids),
                "attention_mask": torch.from_numpy(attention_mask),
            }
            if device is not None:
                data = {key: value.to(device) for key, value in data.items()}
        return BatchFeature(data, tensor_type=None)
