"""The evidence tasks by name, and how to build one."""

from __future__ import annotations

from typing import Any

__all__ = ["TASK_NAMES", "build_task"]

#: Task names in the order reports list them.
TASK_NAMES = ("scene_cuts", "temporal_order", "camera_motion", "playback_speed", "appearance")


def build_task(name: str, encoding: str = "h264", **settings: Any):
    """A task instance by name; ``settings`` are its dataclass fields (e.g. ``size=96``); ``encoding`` is one of
    :data:`.encoding.ENCODINGS` (the same clips, labels and splits, re-encoded)."""
    from .encoding import ENCODINGS, EncoderSettings

    if encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r}; available: {', '.join(ENCODINGS)}")
    if name == "scene_cuts":
        from .scene_cuts import SceneCutsTask as cls
    elif name == "temporal_order":
        from .temporal_order import TemporalOrderTask as cls
    elif name == "camera_motion":
        from .camera_motion import CameraMotionTask as cls
    elif name == "playback_speed":
        from .playback_speed import PlaybackSpeedTask as cls
    elif name == "appearance":
        from .appearance import AppearanceTask as cls
    else:
        raise ValueError(f"unknown evidence task {name!r}; available: {', '.join(TASK_NAMES)}")
    if name == "scene_cuts":
        return cls(encoding=encoding, **settings)
    if encoding != "h264":
        settings["encoder"] = settings.get("encoder", EncoderSettings()).variant(encoding)
    return cls(**settings)
