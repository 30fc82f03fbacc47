"""RGB-space augmentation re-encoded to bytes (paper section 3.2, appendix A.2, Table 12).

A byte model cannot be augmented in its input space: flipping or cropping bytes breaks the file. Instead every
training sample is decoded, augmented in RGB space and *re-encoded*, so the model sees a new, valid file whose bytes
differ almost everywhere from the original (two mildly colour-jittered encodings of one clip differ in more than half
of their bytes by Levenshtein distance, see :func:`byte_difference`).

:class:`VideoAugmenter` ``(video, seed) -> bytes``:

1. decode the first video stream (and the first audio stream with ``keep_audio=True``), up to ``max_seconds``
   (:mod:`.decode`: the package's one decode path, error mapping and deadline);
2. **temporal crop**: keep a random window of the clip (a fraction of its duration), resampled to a constant ``fps``
   (:class:`~.frame_rate.ConstantRateResampler`, the same rule as transcoding);
3. **spatial crop**: a random resized crop to the output size (shorter side ``size``, the source's aspect ratio, even
   sides: :func:`~.frame_size.short_side_size`);
4. photometric ops, the same random parameters for every frame of the clip (torchvision.transforms.v2 on a
   ``tv_tensors.Video``): colour jitter (saturation, hue), contrast, brightness, colour inversion, posterisation,
   solarisation, sharpness, cutout (random erasing);
5. re-encode with the processor's canonical settings (H.264 mp4, 200 kbps, 25 fps) or any supported codec/container.

Every op can be switched off (``VideoAugmenter(cutout=False)``) or tuned with a dict (``contrast={"strength": 0.6,
"p": 1.0}``). The output is a pure function of (input, seed, settings): the random parameters come from a private
generator seeded with ``seed``; the global torch / numpy RNGs are neither used nor changed.
"""

from __future__ import annotations

import copy
import json
from fractions import Fraction
from numbers import Real
from typing import Any

import av
import numpy as np
import torch

from .deadline import DEFAULT_DECODE_TIMEOUT, Deadline
from .decode import VideoDecoder, open_video
from .frame_rate import ConstantRateResampler, frame_count
from .frame_size import short_side_size
from .io import decoded_input_name, read_video_bytes
from .transcode import CANONICAL_SETTINGS, encode_frames, validate_transcode_settings

__all__ = ["VideoAugmenter", "DEFAULT_OPS", "byte_difference"]

#: Default parameters of every op, in the order they are applied. ``p`` is the probability that the op is applied to
#: a clip. ``temporal_crop.keep``: range of the fraction of the duration kept; ``spatial_crop.scale``: range of the
#: crop's area fraction (torchvision ``RandomResizedCrop``); ``strength``: the ``ColorJitter`` factor range
#: ``[1 - s, 1 + s]``; ``cutout.scale``: erased area fraction.
DEFAULT_OPS: dict[str, dict[str, Any]] = {
    "temporal_crop": {"keep": (0.7, 1.0), "p": 1.0},
    "spatial_crop": {"scale": (0.4, 1.0), "p": 1.0},
    "color_jitter": {"saturation": 0.4, "hue": 0.1, "p": 0.8},
    "contrast": {"strength": 0.4, "p": 0.8},
    "brightness": {"strength": 0.4, "p": 0.8},
    "invert": {"p": 0.1},
    "posterize": {"bits": 4, "p": 0.2},
    "solarize": {"threshold": 192, "p": 0.2},
    "sharpness": {"factor": 2.0, "p": 0.3},
    "cutout": {"scale": (0.02, 0.2), "p": 0.5},
}


def _merge_op(name: str, value: Any) -> dict[str, Any] | None:
    """An op's effective parameters: ``False``/``None`` -> off, ``True`` -> defaults, a dict -> defaults updated."""
    if value is None or value is False:
        return None
    params = copy.deepcopy(DEFAULT_OPS[name])
    if value is True:
        return params
    if not isinstance(value, dict):
        raise TypeError(f"augmentation op {name!r} takes True, False or a dict of parameters, got {value!r}")
    unknown = set(value) - set(params)
    if unknown:
        raise ValueError(f"augmentation op {name!r} has no parameter(s) {sorted(unknown)}; known: {sorted(params)}")
    params.update(value)
    p = params["p"]
    if isinstance(p, bool) or not isinstance(p, Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"augmentation op {name!r}: p must be a probability in [0, 1], got {p!r}")
    return params


class VideoAugmenter:
    """Decode -> augment in RGB -> re-encode; ``augmenter(video, seed)`` returns the new file's bytes.

    Args:
        codec, container, size, bitrate, fps: output format (default: the paper's canonical H.264 mp4, shorter side
            384 px, 200 kbit/s, 25 fps; see :func:`~bytevid_hf.processing.transcode_video`).
        keep_audio: keep the first audio stream (cropped to the same time window, re-encoded as AAC/Opus).
        max_seconds: decode at most this many seconds of the input (bounds time and memory for long videos).
        encoder_options: extra FFmpeg options for the video encoder.
        **ops: one keyword per op of :data:`DEFAULT_OPS` — ``False`` switches it off, ``True`` keeps the defaults,
            a dict overrides some of its parameters.

    Example::

        augmenter = VideoAugmenter(invert=False, contrast={"strength": 0.6})
        new_bytes = augmenter("clip.mp4", seed=3)
    """

    def __init__(
        self,
        *,
        codec: str = CANONICAL_SETTINGS["codec"],
        container: str = CANONICAL_SETTINGS["container"],
        size: int = CANONICAL_SETTINGS["size"],
        bitrate: int = CANONICAL_SETTINGS["bitrate"],
        fps: Real = CANONICAL_SETTINGS["fps"],
        keep_audio: bool = False,
        max_seconds: Real | None = None,
        encoder_options: dict[str, str] | None = None,
        **ops: Any,
    ):
        unknown = set(ops) - set(DEFAULT_OPS)
        if unknown:
            raise TypeError(f"VideoAugmenter got unknown op(s) {sorted(unknown)}; ops: {list(DEFAULT_OPS)}")
        self.codec, self.container = validate_transcode_settings(
            codec=codec, container=container, size=size, bitrate=bitrate, fps=fps, keep_audio=keep_audio,
            max_seconds=max_seconds,
        )
        self.size, self.bitrate, self.fps = size, bitrate, fps
        self.keep_audio, self.max_seconds = keep_audio, max_seconds
        self.encoder_options = dict(encoder_options or {})
        self.ops = {name: _merge_op(name, ops.get(name, True)) for name in DEFAULT_OPS}

    @classmethod
    def mild_color_jitter(cls, strength: float = 0.1, **kwargs: Any) -> VideoAugmenter:
        """Only a mild brightness/contrast/saturation change, always applied: no crops or other ops (the paper's
        example of a change that still rewrites most of the file's bytes)."""
        off = {name: False for name in DEFAULT_OPS}
        off.update(brightness={"strength": strength, "p": 1.0}, contrast={"strength": strength, "p": 1.0},
                   color_jitter={"saturation": strength, "hue": 0.0, "p": 1.0})
        off.update(kwargs)
        return cls(**off)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable settings (stored next to augmented samples)."""
        return {"codec": self.codec, "container": self.container, "size": self.size, "bitrate": self.bitrate,
                "fps": float(self.fps), "keep_audio": self.keep_audio, "max_seconds": self.max_seconds,
                "encoder_options": self.encoder_options,
                "ops": {k: (json.loads(json.dumps(v)) if v is not None else False) for k, v in self.ops.items()}}

    def __repr__(self) -> str:
        return f"VideoAugmenter({json.dumps(self.to_dict())})"

    # ------------------------------------------------------------------------------------------------------------------
    def __call__(self, video: Any, seed: int, name: str | None = None) -> bytes:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
        data = read_video_bytes(video, name=name)
        desc = decoded_input_name(video, data, name)
        rng = np.random.Generator(np.random.PCG64(int(seed) & (2**63 - 1)))
        # Decoding is bounded by the default deadline (not a saved setting, so the augmenter's JSON is unchanged).
        deadline = Deadline(DEFAULT_DECODE_TIMEOUT, desc, action="decoding")
        with open_video(data, operation="augment", desc=desc, deadline=deadline, audio=self.keep_audio,
                        max_seconds=self.max_seconds) as decoder:
            frames, times, audio = self._decode(decoder)
            frames, window = self._temporal_crop(frames, times, decoder.frame_duration, rng)
            frames = self._spatial_and_photometric(frames, rng)  # (T, H, W, 3) uint8
            if audio is not None:
                rate, samples = audio
                start, end = (int(round(t * rate)) for t in window)
                audio = (rate, samples[:, start:end]) if end > start else None
            deadline.stage = "encoding"
            return encode_frames(frames, fps=self.fps, codec=self.codec, container=self.container,
                                 bitrate=self.bitrate, encoder_options=self.encoder_options, audio=audio)

    # ------------------------------------------------------------------------------------------------------------------
    def _decode(self, decoder: VideoDecoder):
        """RGB frames (list of (H, W, 3) uint8), their times (exact seconds from the first frame) and the optional
        audio ``(rate, float32 (C, S))`` starting at the first video frame."""
        frames, times, audio_chunks, resampler = [], [], [], None
        for frame, seconds, is_video in decoder:
            if is_video:
                frames.append(frame.to_ndarray(format="rgb24"))
                times.append(seconds)
                continue
            if resampler is None:
                layout = "mono" if decoder.audio_stream.codec_context.channels == 1 else "stereo"
                resampler = av.AudioResampler(format="fltp", layout=layout, rate=frame.sample_rate)
            for out in resampler.resample(frame):
                audio_chunks.append((seconds, out.to_ndarray()))  # (C, S) float32
                seconds = None  # later pieces of one frame follow on
        audio = None
        if audio_chunks:
            rate = resampler.rate
            first = next((float(s) for s, _ in audio_chunks if s is not None), 0.0)
            samples = np.concatenate([c for _, c in audio_chunks], axis=1).astype(np.float32)
            offset = int(round(-first * rate))  # align the audio to the first video frame
            samples = samples[:, offset:] if offset >= 0 else np.pad(samples, ((0, 0), (-offset, 0)))
            duration = float(times[-1] + decoder.frame_duration)
            if self.max_seconds is not None:
                duration = min(float(self.max_seconds), duration)
            audio = (rate, samples[:, : int(round(duration * rate))])
        return frames, times, audio

    def _temporal_crop(self, frames: list, times: list, frame_duration: Fraction, rng: np.random.Generator):
        """Frames of a random window, resampled to ``fps`` (:class:`~.frame_rate.ConstantRateResampler`, the rule of
        :func:`~.transcode.transcode_video`, on times from the window's start); returns them as a (T, H, W, 3) array
        and the window ``(start, end)`` in seconds."""
        duration = float(times[-1] + frame_duration)
        params = self.ops["temporal_crop"]
        keep = 1.0
        if params is not None and rng.random() < params["p"]:
            low, high = params["keep"]
            keep = rng.uniform(low, high)
        length = max(duration * keep, 1.0 / float(self.fps))
        start = rng.uniform(0.0, max(0.0, duration - length)) if keep < 1.0 else 0.0
        count = frame_count(length, self.fps)
        resampler = ConstantRateResampler(self.fps, max_frames=count)
        runs = []
        for index, seconds in enumerate(times):
            if resampler.full:
                break
            runs.append(resampler.push(index, float(seconds) - start))
        runs.append(resampler.finish(duration - start))
        index = [run.item for run in runs if run is not None for _ in run.slots]
        return np.stack([frames[i] for i in index]), (start, start + len(index) / float(self.fps))

    def _spatial_and_photometric(self, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from torchvision import tv_tensors
        from torchvision.transforms import v2

        height, width = frames.shape[1:3]
        out_w, out_h = short_side_size(width, height, self.size, multiple=2)
        ops = self.ops
        transforms: list = []
        crop = ops["spatial_crop"]
        if crop is not None and crop["p"] > 0:
            aspect = width / height
            resized = v2.RandomResizedCrop((out_h, out_w), scale=tuple(crop["scale"]),
                                           ratio=(aspect * 3 / 4, aspect * 4 / 3), antialias=True)
            transforms.append(v2.RandomApply([resized], p=crop["p"]))
        transforms.append(v2.Resize((out_h, out_w), antialias=True))  # a no-op after the crop; else the resize
        if ops["color_jitter"] is not None:
            jitter = v2.ColorJitter(saturation=ops["color_jitter"]["saturation"], hue=ops["color_jitter"]["hue"])
            transforms.append(v2.RandomApply([jitter], p=ops["color_jitter"]["p"]))
        for name in ("contrast", "brightness"):
            if ops[name] is not None:
                jitter = v2.ColorJitter(**{name: ops[name]["strength"]})
                transforms.append(v2.RandomApply([jitter], p=ops[name]["p"]))
        if ops["invert"] is not None:
            transforms.append(v2.RandomInvert(p=ops["invert"]["p"]))
        if ops["posterize"] is not None:
            transforms.append(v2.RandomPosterize(bits=int(ops["posterize"]["bits"]), p=ops["posterize"]["p"]))
        if ops["solarize"] is not None:
            transforms.append(v2.RandomSolarize(threshold=float(ops["solarize"]["threshold"]), p=ops["solarize"]["p"]))
        if ops["sharpness"] is not None:
            transforms.append(v2.RandomAdjustSharpness(float(ops["sharpness"]["factor"]), p=ops["sharpness"]["p"]))
        if ops["cutout"] is not None:
            transforms.append(v2.RandomErasing(p=ops["cutout"]["p"], scale=tuple(ops["cutout"]["scale"]), value=0))
        clip = tv_tensors.Video(torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2))  # (T, 3, H, W)
        # torchvision draws its random parameters from torch's global generator: run it on a private, seeded one.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(0, 2**62)))
            clip = v2.Compose(transforms)(clip)
        return clip.permute(0, 2, 3, 1).contiguous().numpy()


def byte_difference(a: bytes, b: bytes) -> float:
    """Levenshtein distance between two byte strings divided by the longer length (0 = identical, 1 = nothing in
    common). Uses rapidfuzz's bit-parallel implementation (a 250 KB pair takes about a second), an optional
    dependency: ``pip install "bytevid-hf[experiments]"``."""
    try:
        from rapidfuzz.distance import Levenshtein
    except ImportError as e:  # the [experiments] extra (and [dev]) installs it
        raise ImportError(
            'byte_difference needs rapidfuzz, an optional dependency of bytevid-hf: pip install "bytevid-hf[experiments]" '
            "(or pip install rapidfuzz)"
        ) from e
    a, b = bytes(a), bytes(b)
    if not a and not b:
        return 0.0
    return Levenshtein.distance(a, b) / max(len(a), len(b))
