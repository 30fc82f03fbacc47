"""JPEG-bytes inputs: images, frames and decoded videos as (concatenated) JPEG byte strings.

The paper pre-trains a byte backbone on JPEG-encoded images and transfers it to video
(*Understanding Video from Encoded Bytes*, Table 11). This module produces those inputs:

* :func:`encode_jpeg` — one image (PIL image, ``uint8`` array/tensor, or an encoded image file) as
  one baseline JPEG, optionally resized so that its shorter side is ``size``;
* :func:`frames_to_jpeg_bytes` — a sequence of frames as one byte string of concatenated JPEGs
  (a Motion-JPEG style stream);
* :func:`video_to_jpeg_bytes` — an encoded video (anything
  :func:`~bytevid_hf.processing.read_video_bytes` accepts) decoded with PyAV, its frames as
  concatenated JPEGs;
* :func:`split_jpeg_stream` — the inverse of the concatenation: one ``bytes`` per JPEG.

Every image is converted to 8-bit RGB (grayscale, palette, RGBA and CMYK included), so that all
JPEGs share one three-component layout. Resizing and encoding use Pillow (bicubic antialiased
resize; baseline JPEG with libjpeg(-turbo), standard Huffman tables, 4:2:0 chroma subsampling, a
JFIF header and no EXIF/ICC data): for a given input and settings the bytes are the same on every
call. (torchvision's ``encode_jpeg`` is not used: torchvision 0.29 deprecates its image codecs.)
"""

from __future__ import annotations

import io
import math
import os
import sys
from numbers import Real
from typing import Any

import numpy as np

from .deadline import DEFAULT_DECODE_TIMEOUT, Deadline, check_timeout
from .decode import open_video
from .frame_rate import MAX_FPS, ConstantRateResampler, TimestampError, frame_count
from .frame_size import MAX_SHORT_SIDE, short_side_size
from .io import _check_max_bytes, decoded_input_name, describe_video, read_video_bytes

__all__ = [
    "DEFAULT_JPEG_QUALITY",
    "MIN_JPEG_SIZE",
    "MAX_JPEG_NUM_FRAMES",
    "encode_jpeg",
    "frames_to_jpeg_bytes",
    "split_jpeg_stream",
    "validate_jpeg_settings",
    "video_to_jpeg_bytes",
]

#: Default JPEG quality (libjpeg's and Pillow's default as well).
DEFAULT_JPEG_QUALITY = 75
#: Smallest allowed target for the shorter side, in pixels (the largest is :data:`~.frame_size.MAX_SHORT_SIDE`).
MIN_JPEG_SIZE = 8
#: Most frames a JPEG-mode video may keep (``num_frames``): ten minutes at 16 fps, far above the paper's clips.
MAX_JPEG_NUM_FRAMES = 10_000

_ACCEPTED_IMAGE_TYPES = (
    "a PIL.Image.Image, a uint8 numpy array (H, W, 3), (H, W, 1) or (H, W), a uint8 torch tensor "
    "(3, H, W), (1, H, W), (H, W, 3) or (H, W), or an encoded image file (a path, bytes, bytearray, "
    "memoryview, a binary file object, or a 1-D uint8 array/tensor of the file's bytes)"
)


# --------------------------------------------------------------------------- validation


def _check_quality(value: Any, name: str = "quality") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int from 1 to 100, got {type(value).__name__} {value!r}")
    if not 1 <= value <= 100:
        raise ValueError(f"{name} must be an int from 1 to 100, got {value}")
    return int(value)


def _check_size(value: Any, name: str = "size") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"{name} must be an int >= {MIN_JPEG_SIZE} (target shorter side in pixels) or None, "
            f"got {type(value).__name__} {value!r}"
        )
    if not MIN_JPEG_SIZE <= value <= MAX_SHORT_SIDE:
        raise ValueError(
            f"{name} must be an int from {MIN_JPEG_SIZE} to {MAX_SHORT_SIDE} (target shorter side in pixels) or "
            f"None, got {value}"
        )
    return int(value)


def _check_num_frames(value: Any, name: str = "num_frames") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int or None, got {type(value).__name__} {value!r}")
    if not 1 <= value <= MAX_JPEG_NUM_FRAMES:
        raise ValueError(f"{name} must be an int from 1 to {MAX_JPEG_NUM_FRAMES} or None, got {value}")
    return int(value)


def _check_positive_real(value: Any, name: str, maximum: float = math.inf) -> int | float | None:
    """A positive finite number (at most ``maximum``) or None; Fractions / numpy numbers become int or float
    (JSON-friendly)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or not value > 0:
        raise ValueError(f"{name} must be a positive finite number or None, got {value!r}")
    if value > maximum:
        raise ValueError(f"{name} must be a number > 0 and <= {maximum} or None, got {value!r}")
    if isinstance(value, (int, float)) and not isinstance(value, (np.integer, np.floating)):
        return value
    return int(value) if float(value).is_integer() else float(value)


def validate_jpeg_settings(
    *,
    quality: Any = DEFAULT_JPEG_QUALITY,
    size: Any = None,
    num_frames: Any = None,
    fps: Any = None,
    max_seconds: Any = None,
    prefix: str = "",
) -> dict[str, Any]:
    """Validate JPEG settings; return them normalised (plain ``int``/``float`` values).

    ``prefix`` is prepended to the names in error messages (the processor passes ``"jpeg_"``).

    Raises:
        TypeError: ``quality``, ``size`` or ``num_frames`` is not an int.
        ValueError: ``quality`` outside 1..100, ``size`` outside 8..4320 (:data:`~.frame_size.MAX_SHORT_SIDE`),
            ``num_frames`` outside 1..:data:`MAX_JPEG_NUM_FRAMES`, ``fps`` outside (0, 1000]
            (:data:`~.frame_rate.MAX_FPS`) or a non-positive ``max_seconds``.
    """
    return {
        "quality": _check_quality(quality, prefix + "quality"),
        "size": _check_size(size, prefix + "size"),
        "num_frames": _check_num_frames(num_frames, prefix + "num_frames"),
        "fps": _check_positive_real(fps, prefix + "fps", MAX_FPS),
        "max_seconds": _check_positive_real(max_seconds, prefix + "max_seconds"),
    }


# --------------------------------------------------------------------------- images


def _torch_module():
    return sys.modules.get("torch")


def _is_tensor(obj: Any) -> bool:
    torch = _torch_module()
    return torch is not None and isinstance(obj, torch.Tensor)


def _is_encoded_file(image: Any) -> bool:
    if isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)):
        return True
    if (isinstance(image, np.ndarray) or _is_tensor(image)) and image.ndim == 1:
        return True
    return hasattr(image, "read") and callable(image.read)


def _read_image_file(image: Any, desc: str, max_bytes: int | None) -> bytes:
    """The bytes of an encoded image file given as a path, bytes-like object, file object or 1-D array."""
    if isinstance(image, (str, os.PathLike)):
        try:
            with open(os.fspath(image), "rb") as f:
                data = f.read() if max_bytes is None else f.read(max_bytes + 1)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"Image file not found: {desc!r}") from e
        except IsADirectoryError as e:
            raise IsADirectoryError(f"Image path {desc!r} is a directory, not an image file") from e
        except PermissionError as e:
            raise PermissionError(f"Permission denied reading image file {desc!r}") from e
        except (OSError, ValueError) as e:  # e.g. EIO, a NUL character in the path
            raise ValueError(f"Could not read image file {desc!r}: {getattr(e, 'strerror', None) or e}") from e
    elif isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
    elif isinstance(image, np.ndarray) or _is_tensor(image):
        arr = image.detach().cpu().numpy() if _is_tensor(image) else image
        if arr.dtype != np.uint8:
            raise TypeError(f"Image file bytes {desc} must have dtype uint8, got {image.dtype}")
        data = arr.tobytes()
    else:
        try:
            data = image.read() if max_bytes is None else image.read(max_bytes + 1)
        except (OSError, ValueError) as e:  # closed file, unreadable stream, ...
            raise ValueError(f"Could not read from image file object {desc}: {e}") from e
        if isinstance(data, str):
            raise TypeError(
                f"Image file object {desc} returned str from .read(); it was opened in text mode. "
                "Open image files in binary mode, e.g. open(path, 'rb')."
            )
        if data is None:
            raise ValueError(f"Image file object {desc} returned None from .read() (non-blocking stream?)")
        data = bytes(data)
    if not data:
        raise ValueError(f"Image {desc} is empty (0 bytes)")
    if max_bytes is not None and len(data) > max_bytes:
        raise ValueError(f"Image {desc} is larger than the limit of max_bytes={max_bytes} bytes")
    return data


def _decode_image_file(image: Any, desc: str, max_bytes: int | None) -> Any:
    """Open an encoded image file with Pillow; return an RGB ``PIL.Image``."""
    from PIL import Image

    data = _read_image_file(image, desc, max_bytes)
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return img.convert("RGB")
    except Image.DecompressionBombError as e:
        raise ValueError(f"Could not decode image {desc}: {e}") from e
    except Image.UnidentifiedImageError as e:
        raise ValueError(f"Could not decode image {desc}: Pillow does not recognise it as an image file") from e
    except (OSError, ValueError, SyntaxError) as e:
        raise ValueError(
            f"Could not decode image {desc}: {e} (the data is not an image, or it is truncated or corrupted)"
        ) from e


def _to_rgb_array(image: Any, desc: str, max_bytes: int | None = None) -> np.ndarray:
    """Any accepted image -> C-contiguous ``uint8`` array ``(H, W, 3)``."""
    from PIL import Image

    if isinstance(image, Image.Image):
        try:  # a lazily opened image is decoded here
            arr = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
        except (OSError, ValueError, SyntaxError) as e:
            raise ValueError(f"Could not decode image {desc}: {e}") from e
    elif _is_encoded_file(image):
        arr = np.asarray(_decode_image_file(image, desc, max_bytes))
    elif isinstance(image, np.ndarray) or _is_tensor(image):
        is_tensor = _is_tensor(image)
        if is_tensor:
            torch = _torch_module()
            if image.dtype != torch.uint8:
                raise TypeError(f"Image {desc} must have dtype torch.uint8 (pixel values 0..255), got {image.dtype}")
            arr = image.detach().cpu().numpy()
        else:
            if image.dtype != np.uint8:
                raise TypeError(f"Image {desc} must have dtype uint8 (pixel values 0..255), got {image.dtype}")
            arr = image
        if arr.ndim == 3:
            channels_first = arr.shape[0] in (1, 3)
            channels_last = arr.shape[-1] in (1, 3)
            # torch follows torchvision (channels first), numpy follows PIL / OpenCV (channels last);
            # the other layout is accepted where it is unambiguous.
            if channels_first and (is_tensor or not channels_last):
                arr = arr.transpose(1, 2, 0)
            elif not channels_last:
                raise ValueError(
                    f"Image {desc} must have 1 or 3 channels, as (H, W, C) or (C, H, W), got shape {tuple(arr.shape)}"
                )
            if arr.shape[-1] == 1:
                arr = arr[..., 0]
        elif arr.ndim != 2:
            raise ValueError(
                f"Image {desc} must be 2-D (grayscale) or 3-D (color), got {arr.ndim} dimensions with shape "
                f"{tuple(arr.shape)}"
            )
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=-1)
    else:
        raise TypeError(
            f"Unsupported image input {desc}: expected {_ACCEPTED_IMAGE_TYPES}, "
            f"got {type(image).__module__}.{type(image).__qualname__}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"Image {desc} is empty (shape {tuple(arr.shape)})")
    return np.ascontiguousarray(arr)


def _describe_image(image: Any, name: str | None) -> str:
    """Like :func:`describe_video`, plus PIL images (by file name, else mode and size)."""
    if name is None and type(image).__module__.startswith("PIL."):
        filename = getattr(image, "filename", None)
        if filename:
            return os.fsdecode(filename)
        return f"<PIL image, mode {getattr(image, 'mode', '?')}, size {getattr(image, 'size', '?')}>"
    return describe_video(image, name)


def _resize(arr: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    height, width = arr.shape[:2]
    new_width, new_height = short_side_size(width, height, size)  # the package's one rule, multiple=1
    if (new_width, new_height) == (width, height):
        return arr
    resized = Image.fromarray(arr).resize((new_width, new_height), Image.Resampling.BICUBIC)
    return np.asarray(resized)


def _encode_rgb(arr: np.ndarray, quality: int, size: int | None) -> bytes:
    from PIL import Image

    if size is not None:
        arr = _resize(arr, size)
    buf = io.BytesIO()
    # Everything explicit, so that the bytes do not depend on Pillow's defaults: baseline
    # (not progressive), standard Huffman tables (no optimize pass), 4:2:0 chroma, no EXIF/ICC.
    Image.fromarray(np.ascontiguousarray(arr)).save(
        buf, format="JPEG", quality=quality, subsampling=2, optimize=False, progressive=False
    )
    return buf.getvalue()


def encode_jpeg(
    image: Any,
    quality: int = DEFAULT_JPEG_QUALITY,
    size: int | None = None,
    *,
    name: str | None = None,
    max_bytes: int | None = None,
) -> bytes:
    """Encode one image as a baseline JPEG; return the file's bytes (``FF D8 ... FF D9``).

    Args:
        image: one of

            * a ``PIL.Image.Image`` (any mode; converted to RGB);
            * a ``uint8`` numpy array ``(H, W, 3)``, ``(H, W, 1)`` or ``(H, W)`` (grayscale; also
              ``(3, H, W)`` when that is unambiguous);
            * a ``uint8`` torch tensor ``(3, H, W)``, ``(1, H, W)`` or ``(H, W)`` (torchvision's
              channels-first layout; ``(H, W, 3)`` is accepted when the first dimension is not 1 or 3);
            * an encoded image file — a path, ``bytes``/``bytearray``/``memoryview``, a binary file
              object, or a 1-D ``uint8`` array/tensor of the file's bytes — decoded with Pillow
              first (pixels as stored: EXIF orientation is not applied).

            Grayscale images are replicated to three channels, so every output is a 3-component
            (YCbCr 4:2:0) JPEG.
        quality: JPEG quality, an int from 1 to 100.
        size: if given, resize (Pillow bicubic, antialiased) so that the *shorter* side is
            ``size`` pixels, keeping the aspect ratio (the longer side is rounded to the nearest
            pixel); must be >= 8. Smaller images are enlarged. ``None`` keeps the image's size.
        name: label for the input in error messages.
        max_bytes: size limit for encoded image file inputs (``None`` = unlimited).

    Returns:
        The JPEG file as ``bytes`` (baseline, 4:2:0, JFIF); the same input and settings give the
        same bytes.

    Raises:
        TypeError: unsupported input type or dtype, or a ``quality``/``size`` of the wrong type.
        ValueError: invalid ``quality``/``size``, a wrong shape or channel count, an empty
            image, or an encoded file that cannot be decoded (the message names the input).
        FileNotFoundError / IsADirectoryError / PermissionError: an unreadable path.
    """
    quality = _check_quality(quality)
    size = _check_size(size)
    _check_max_bytes(max_bytes)
    desc = _describe_image(image, name)
    return _encode_rgb(_to_rgb_array(image, desc, max_bytes), quality, size)


# --------------------------------------------------------------------------- frame sequences


def _sample_indices(total: int, num_frames: int | None) -> list[int]:
    """``num_frames`` indices into ``total`` frames: the centre of each of ``num_frames`` equal segments.

    With ``num_frames > total`` frames repeat, so the result always has ``num_frames`` entries.
    """
    if num_frames is None:
        return list(range(total))
    return [min(total - 1, math.floor((i + 0.5) * total / num_frames)) for i in range(num_frames)]


def _frame_list(frames: Any) -> list[Any]:
    """Split a frame sequence into per-frame images, checking its form."""
    if isinstance(frames, np.ndarray) or _is_tensor(frames):
        if frames.ndim != 4:
            raise ValueError(
                f"frames must be a 4-D uint8 array (T, H, W, 3) (or a torch tensor (T, 3, H, W)), or a list of "
                f"images; got {frames.ndim} dimensions with shape {tuple(frames.shape)}"
            )
        return [frames[i] for i in range(frames.shape[0])]
    if isinstance(frames, (list, tuple)):
        return list(frames)
    raise TypeError(
        f"frames must be a 4-D uint8 array/tensor or a list of images, got {type(frames).__module__}."
        f"{type(frames).__qualname__}"
    )


def frames_to_jpeg_bytes(
    frames: Any,
    quality: int = DEFAULT_JPEG_QUALITY,
    size: int | None = None,
    *,
    num_frames: int | None = None,
) -> bytes:
    """Encode a sequence of frames as one byte string of concatenated JPEGs (Motion-JPEG style).

    Args:
        frames: a ``uint8`` numpy array ``(T, H, W, 3)`` (or ``(T, H, W, 1)``), a ``uint8`` torch
            tensor ``(T, 3, H, W)`` or ``(T, H, W, 3)``, or a list of images (anything
            :func:`encode_jpeg` accepts).
        quality, size: as for :func:`encode_jpeg`, applied to every frame.
        num_frames: keep only this many frames, the centre frame of each of ``num_frames`` equal
            segments (frames repeat when there are fewer); ``None`` keeps every frame.

    Returns:
        ``b"".join(encode_jpeg(frame, quality, size) for frame in the kept frames)``; split it
        again with :func:`split_jpeg_stream`.

    Raises:
        ValueError: no frames, a wrong shape, or invalid settings; errors about one frame name
            it as ``frames[i]``.
        TypeError: an unsupported type or dtype.
    """
    quality = _check_quality(quality)
    size = _check_size(size)
    num_frames = _check_num_frames(num_frames)
    items = _frame_list(frames)
    if not items:
        raise ValueError("frames is empty; pass at least one frame")
    parts = []
    for i in _sample_indices(len(items), num_frames):
        parts.append(encode_jpeg(items[i], quality, size, name=f"frames[{i}]"))
    return b"".join(parts)


# --------------------------------------------------------------------------- videos


#: Most output frames a constant-rate resample may produce (a day at 100 fps); corrupted timestamps
#: can otherwise claim a clip lasts years and ask for billions of repeated frames.
MAX_RESAMPLED_FRAMES = 8_640_000


def video_to_jpeg_bytes(
    video: Any,
    num_frames: int | None = None,
    fps: Real | None = None,
    quality: int = DEFAULT_JPEG_QUALITY,
    size: int | None = None,
    max_seconds: Real | None = None,
    *,
    name: str | None = None,
    max_bytes: int | None = None,
    timeout: Real | None = DEFAULT_DECODE_TIMEOUT,
) -> bytes:
    """Decode an encoded video with PyAV and return its frames as concatenated JPEGs.

    Steps: decode the first video stream (:mod:`.decode`: frames in presentation order,
    converted to RGB); keep the frames shown in the first ``max_seconds`` seconds; optionally
    resample to a constant ``fps`` by timestamp (:class:`~.frame_rate.ConstantRateResampler`, the
    rule :func:`~bytevid_hf.processing.transcode_video` uses: frames dropped or repeated); optionally keep ``num_frames`` frames, the centre frame of each of
    ``num_frames`` equal segments (frames repeat in shorter videos); encode each kept frame with
    :func:`encode_jpeg` (``quality``, ``size``) and concatenate.

    Every decoded frame within ``max_seconds`` is converted and JPEG-encoded once (only the
    compressed frames are kept in memory), so limit long videos with ``max_seconds``.

    Args:
        video: anything :func:`~bytevid_hf.processing.read_video_bytes` accepts (path, bytes,
            binary file object, 1-D uint8 array/tensor of encoded bytes).
        num_frames: number of frames to keep (``None`` = all).
        fps: resample to this constant frame rate first (``None`` = the decoded frames as they are).
        quality, size: as for :func:`encode_jpeg`.
        max_seconds: only use the first ``max_seconds`` seconds (``None`` = everything).
        name: label for the input in error messages (default: the path, or ``"<bytes of length N>"``).
        max_bytes: size limit for the *input*, passed to ``read_video_bytes``.
        timeout: wall-clock deadline in seconds for decoding (default 600 s; ``None`` = none),
            checked between frames and on every demuxer read (see :mod:`.deadline`).

    Returns:
        ``bytes``: the JPEGs one after another (split them with :func:`split_jpeg_stream`; FFmpeg
        reads the result as an ``mjpeg`` stream). Reproducible for a given input and settings.

    Raises:
        InvalidVideoError: the input cannot be decoded: not a video, truncated or corrupted, no
            video stream, no decodable frames, or corrupted timestamps. The message names the
            input; the underlying PyAV error is chained as ``__cause__``.
        VideoDecodeTimeoutError: decoding ran past ``timeout`` seconds.
        ValueError: invalid settings.
        plus the exceptions of :func:`read_video_bytes` for unreadable or too large inputs.
    """
    settings = validate_jpeg_settings(
        quality=quality, size=size, num_frames=num_frames, fps=fps, max_seconds=max_seconds
    )
    timeout = check_timeout(timeout, "timeout")
    data = read_video_bytes(video, name=name, max_bytes=max_bytes)
    name = decoded_input_name(video, data, name)
    deadline = Deadline(timeout, name, action="decoding")  # also records the current stage
    times: list = []  # presentation time of each decoded frame (s, from the first frame)
    jpegs: list[bytes] = []  # each decoded frame encoded once
    with open_video(data, operation="decode", desc=name, deadline=deadline,
                    max_seconds=settings["max_seconds"]) as decoder:
        for frame, seconds, _ in decoder:
            times.append(seconds)
            jpegs.append(_encode_rgb(frame.to_ndarray(format="rgb24"), settings["quality"], settings["size"]))
        order = list(range(len(jpegs)))  # which decoded frame each output frame shows
        if settings["fps"] is not None:
            order = _constant_rate_order(times, settings["fps"], times[-1] + decoder.frame_duration,
                                         settings["max_seconds"])
    order = [order[i] for i in _sample_indices(len(order), settings["num_frames"])]
    return b"".join(jpegs[i] for i in order)


def _constant_rate_order(times: list, fps: Real, end: Real, max_seconds: Real | None) -> list[int]:
    """Indices of the decoded frames shown at a constant ``fps`` (:class:`~.frame_rate.ConstantRateResampler`)."""
    resampler = ConstantRateResampler(fps, None if max_seconds is None else frame_count(max_seconds, fps))
    runs = [resampler.push(index, seconds) for index, seconds in enumerate(times)] + [resampler.finish(end)]
    if resampler.next_slot > MAX_RESAMPLED_FRAMES:
        raise TimestampError(
            f"the frame timestamps span {float(end):.6g} s, i.e. {resampler.next_slot} frames at {float(fps):g} fps, "
            f"more than {MAX_RESAMPLED_FRAMES}; the timestamps are corrupted (or set jpeg_max_seconds / max_seconds)"
        )
    return [run.item for run in runs if run is not None for _ in run.slots]


# --------------------------------------------------------------------------- splitting


def _jpeg_end(data: bytes, start: int) -> int:
    """Index just past the EOI marker of the JPEG that starts (with SOI) at ``start``."""
    n = len(data)
    i = start + 2
    while True:
        if i >= n:
            raise ValueError(f"JPEG starting at byte {start} is truncated (no end-of-image marker FF D9)")
        if data[i] != 0xFF:
            raise ValueError(f"JPEG starting at byte {start} is corrupted: expected a marker at byte {i}")
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            continue
        code = data[i]
        i += 1
        if code == 0xD9:  # EOI
            return i
        if code == 0x01 or 0xD0 <= code <= 0xD7:  # standalone markers
            continue
        if code == 0xD8 or code == 0x00:
            raise ValueError(
                f"JPEG starting at byte {start} is corrupted: unexpected marker FF {code:02X} at byte {i - 2}"
            )
        if i + 2 > n:
            i = n
            continue
        length = (data[i] << 8) | data[i + 1]
        if length < 2:
            raise ValueError(f"JPEG starting at byte {start} is corrupted: segment length {length} at byte {i}")
        i += length
        if code == 0xDA:  # start of scan: entropy-coded data up to the next real marker
            while True:
                j = data.find(b"\xff", i)
                if j < 0 or j + 1 >= n:
                    i = n
                    break
                following = data[j + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:  # stuffed byte or restart marker
                    i = j + 2
                    continue
                i = j
                break


def split_jpeg_stream(data: Any) -> list[bytes]:
    """Split concatenated JPEGs (e.g. from :func:`frames_to_jpeg_bytes`) into one ``bytes`` per JPEG.

    The markers are parsed (segment lengths, byte stuffing in the entropy-coded data), so an
    ``FF D9`` inside a segment (e.g. an embedded thumbnail) does not end a JPEG early.

    Args:
        data: ``bytes``, ``bytearray``, ``memoryview`` or a 1-D ``uint8`` numpy array/torch tensor
            (e.g. an unpadded ``input_ids`` row).

    Raises:
        ValueError: empty input, data that does not start with a JPEG (``FF D8``) where one is
            expected, or a truncated/corrupted JPEG.
    """
    if isinstance(data, np.ndarray) or _is_tensor(data):
        data = (data.detach().cpu().numpy() if _is_tensor(data) else data).astype(np.uint8, copy=False).tobytes()
    data = bytes(data)
    if not data:
        raise ValueError("split_jpeg_stream got empty data")
    out, pos = [], 0
    while pos < len(data):
        if data[pos : pos + 2] != b"\xff\xd8":
            raise ValueError(
                f"Expected a JPEG start-of-image marker FF D8 at byte {pos}, got {data[pos:pos + 2].hex(' ').upper()!r}"
            )
        end = _jpeg_end(data, pos)
        out.append(data[pos:end])
        pos = end
    return out
