"""Pixel-level checks that each task's label can be read off the *decoded* clip by a simple, independent method.

None of these learn anything and none reads the label; they exist so that a broken generator (a reversed clip that
is not reversed, a pan that goes the wrong way, a colour lost in encoding) fails a test instead of producing a
task nobody can solve:

* temporal order / playback speed: the decoded frames are matched against the source footage re-cut from the
  clip's place (first frame, window) for each candidate order / frame step; the best match is the prediction;
* camera motion: phase correlation of decoded frames 4 apart gives the global shift (pans) and the difference of
  the left/right and top/bottom halves' shifts (zooms: content moving outwards or inwards);
* appearance: moving pixels (those differing from the clip's per-pixel temporal median) that are chromatic; their
  mean colour's hue is matched to the class hues;
* scene cuts: :func:`bytevid_hf.data.synthetic.count_hard_cuts`.

Decoding uses the package's :func:`bytevid_hf.processing.sample_frames`.
"""

from __future__ import annotations

import colorsys
from typing import Any

import numpy as np

__all__ = ["decode_clip", "predict_label", "phase_shift", "camera_motion_label", "appearance_label",
           "footage_match_label"]


def decode_clip(video: Any, num_frames: int, size: int) -> np.ndarray:
    """Decoded frames ``uint8[num_frames, size, size, 3]`` through :func:`bytevid_hf.processing.sample_frames`."""
    from ...processing import sample_frames

    frames = sample_frames(video, num_frames=num_frames, size=size)  # (T, 3, S, S) in [0, 1]
    return (frames.permute(0, 2, 3, 1).numpy() * 255.0 + 0.5).astype(np.uint8)


def phase_shift(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``(dx, dy)`` such that ``b`` looks like ``a`` moved by ``(dx, dy)`` pixels (grey images, phase correlation
    with a Hann window and parabolic sub-pixel peak)."""
    a = a.astype(np.float64) - a.mean()
    b = b.astype(np.float64) - b.mean()
    window = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    fa, fb = np.fft.fft2(a * window), np.fft.fft2(b * window)
    cross = fb * np.conj(fa)
    corr = np.fft.ifft2(cross / (np.abs(cross) + 1e-9)).real
    iy, ix = np.unravel_index(int(np.argmax(corr)), corr.shape)
    h, w = corr.shape

    def refine(c_m, c_0, c_p):
        denom = c_m - 2 * c_0 + c_p
        return 0.0 if abs(denom) < 1e-12 else 0.5 * (c_m - c_p) / denom

    dy = iy + refine(corr[(iy - 1) % h, ix], corr[iy, ix], corr[(iy + 1) % h, ix])
    dx = ix + refine(corr[iy, (ix - 1) % w], corr[iy, ix], corr[iy, (ix + 1) % w])
    dy = dy - h if dy > h / 2 else dy
    dx = dx - w if dx > w / 2 else dx
    return float(dx), float(dy)


def _grey(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def camera_motion_label(frames: np.ndarray, class_names: tuple[str, ...], lag: int = 4) -> int:
    """Class of a decoded camera-motion clip: median global shift and median divergence of frames ``lag`` apart."""
    g = _grey(frames)
    n = g.shape[1]
    half = n // 2
    shifts, divergence = [], []
    for t in range(len(g) - lag):
        a, b = g[t], g[t + lag]
        shifts.append(phase_shift(a, b))
        left = phase_shift(a[:, :half], b[:, :half])[0]
        right = phase_shift(a[:, half:], b[:, half:])[0]
        top = phase_shift(a[:half], b[:half])[1]
        bottom = phase_shift(a[half:], b[half:])[1]
        divergence.append((right - left) + (bottom - top))
    dx, dy = np.median(np.array(shifts), axis=0)
    div = float(np.median(divergence))
    scores = {  # content moves opposite to the window
        "pan_left": dx, "pan_right": -dx, "pan_up": dy, "pan_down": -dy,
        "zoom_in": div, "zoom_out": -div,
    }
    return int(np.argmax([scores[name] for name in class_names]))


def appearance_label(frames: np.ndarray, hues: dict[str, float], class_names: tuple[str, ...],
                     moving_tol: float = 40.0, min_chroma: float = 60.0) -> int:
    """Class of a decoded appearance clip: hue of the mean colour of moving, chromatic pixels."""
    f = frames.astype(np.float64)
    background = np.median(f, axis=0)
    moving = np.abs(f - background).max(axis=-1) > moving_tol
    chroma = f.max(axis=-1) - f.min(axis=-1)
    pick = moving & (chroma > min_chroma)
    if not pick.any():
        pick = moving
    r, g, b = (f[pick].mean(axis=0) / 255.0).tolist()
    hue = colorsys.rgb_to_hsv(r, g, b)[0] * 360.0
    distance = [min(abs(hue - hues[name]), 360.0 - abs(hue - hues[name])) for name in class_names]
    return int(np.argmin(distance))


def footage_match_label(frames: np.ndarray, task: Any, meta: dict[str, Any], candidates: list[list[int]]) -> int:
    """Index of the candidate frame list whose re-cut footage (the clip's windows) best matches the decoded
    ``frames`` (mean squared error); candidates running off the source score ``inf``."""
    from .crops import render_windows

    footage = task.footage(meta["source"])
    windows = [tuple(w) for w in meta["windows"]]
    errors = []
    for frame_list in candidates:
        if min(frame_list) < 0 or max(frame_list) >= len(footage):
            errors.append(np.inf)
            continue
        ref = render_windows(footage, frame_list, windows, frames.shape[1]).astype(np.float64)
        errors.append(float(np.mean((ref - frames) ** 2)))
    return int(np.argmin(errors))


def predict_label(task: Any, row: dict[str, Any]) -> int:
    """The label of generated ``row`` as recovered from its decoded pixels (see the module docstring)."""
    name = task.name
    if name == "scene_cuts":
        from ...data.synthetic import count_hard_cuts
        from ...processing.decode import open_video
        from ...processing.deadline import Deadline

        with open_video(row["video"], operation="decode", desc="clip", deadline=Deadline(60.0, "clip")) as video:
            frames = np.stack([f.to_ndarray(format="rgb24") for f, _, _ in video])
        return min(count_hard_cuts(frames), task.num_classes - 1)
    frames = decode_clip(row["video"], task.num_frames, task.size)
    meta = row["meta"]
    if name == "temporal_order":
        forward = sorted(meta["frames"])
        return footage_match_label(frames, task, meta, [forward, forward[::-1]])
    if name == "playback_speed":
        first = min(meta["frames"])
        candidates = [[first + k * step for k in range(task.num_frames)] for step in task.steps]
        return footage_match_label(frames, task, meta, candidates)
    if name == "camera_motion":
        return camera_motion_label(frames, task.class_names)
    if name == "appearance":
        from .appearance import HUES

        return appearance_label(frames, HUES, task.class_names)
    raise ValueError(f"no pixel-level check for task {name!r}")
