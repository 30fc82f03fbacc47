"""The suite: every task x every model x every seed, at equal CPU time, results written as they come.

For each seed and task the clips are generated anew (training, held-out and, when a pre-trained byte model runs,
unlabelled pre-training clips from the training side), so the spread over seeds covers the data as well as the
initialisation and batch order. Each learned model then gets ``cpu_seconds`` of CPU time (:mod:`.budget`); the
size-only and chance baselines are fit on the same training clips. ``results.json`` is rewritten after every run,
so an interrupted suite keeps what it finished; :mod:`.report` turns it into the Markdown table and the figures.

Encodings (``encodings``, :data:`.encoding.ENCODINGS`) are one more axis: every task is generated once per encoding
from the same plan (same sources, segments, crops, render seeds, labels and rate draws), and its results are kept
under :func:`entry_key` — the task name for the default ``h264`` (so single-encoding results read as before),
``"task@encoding"`` otherwise, each entry saying its ``task`` and ``encoding``.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .encoding import DEFAULT_ENCODING, ENCODINGS
from .registry import TASK_NAMES, build_task

__all__ = ["MODELS", "LEARNED_MODELS", "SuiteConfig", "run_suite", "summarise", "merge_results", "entry_key"]

#: Model names in the order reports list them.
MODELS = ("bytes", "bytes_pt_rgb", "bytes_pt_next", "pixels", "size", "chance")
LEARNED_MODELS = ("bytes", "bytes_pt_rgb", "bytes_pt_next", "pixels")


@dataclass
class SuiteConfig:
    """What :func:`run_suite` runs (the options of ``scripts/evidence.py``)."""

    tasks: list[str] = field(default_factory=lambda: list(TASK_NAMES))
    models: list[str] = field(default_factory=lambda: list(MODELS))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    cpu_seconds: float = 300.0
    train_clips: int = 800
    eval_clips: int = 200
    pretrain_clips: int | None = None  # default: train_clips
    pretrain_fraction: float = 0.5
    curve_points: int = 5
    batch_size: int = 8
    byte_learning_rate: float = 2e-3
    pixel_learning_rate: float = 1e-3
    preset: str = "bytes-micro"
    threads: int = 1
    num_proc: int = 1
    encodings: list[str] = field(default_factory=lambda: [DEFAULT_ENCODING])

    def __post_init__(self) -> None:
        unknown = [e for e in self.encodings if e not in ENCODINGS]
        if unknown or not self.encodings:
            raise ValueError(f"unknown encodings {unknown or self.encodings}; available: {', '.join(ENCODINGS)}")
        unknown = [t for t in self.tasks if t not in TASK_NAMES]
        if unknown:
            raise ValueError(f"unknown tasks {unknown}; available: {', '.join(TASK_NAMES)}")
        unknown = [m for m in self.models if m not in MODELS]
        if unknown:
            raise ValueError(f"unknown models {unknown}; available: {', '.join(MODELS)}")
        if not self.seeds:
            raise ValueError("need at least one seed")
        if self.cpu_seconds <= 0 or self.train_clips < 2 or self.eval_clips < 1:
            raise ValueError("cpu_seconds must be > 0, train_clips >= 2 and eval_clips >= 1")
        if not 0.0 < self.pretrain_fraction < 1.0:
            raise ValueError("pretrain_fraction must be in (0, 1)")


def entry_key(task: str, encoding: str = DEFAULT_ENCODING) -> str:
    """Where results of ``task`` encoded with ``encoding`` live in ``results["tasks"]``."""
    return task if encoding == DEFAULT_ENCODING else f"{task}@{encoding}"


def _std(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sample standard deviation over seeds of accuracy and CPU time, plus what one clip is to the model."""
    acc = [r["accuracy"] for r in runs]
    out = {"mean": float(np.mean(acc)), "std": _std(acc), "n": len(acc),
           "cpu_seconds_mean": float(np.mean([r.get("cpu_seconds", 0.0) for r in runs])),
           "input_per_clip": float(np.mean([r.get("input_per_clip", 0.0) for r in runs])),
           "input_unit": runs[0].get("input_unit", "")}
    for key in ("steps", "pretrain_cpu_seconds", "finetune_cpu_seconds", "decode_cpu_seconds", "input_read",
                "wall_seconds", "parameters"):
        if key in runs[0]:
            out[f"{key}_mean"] = float(np.mean([r[key] for r in runs]))
    return out


def _size_stats(task: Any, rows: list) -> dict[str, Any]:
    sizes = np.array([len(r["video"]) for r in rows], dtype=np.float64)
    labels = np.array([r["label"] for r in rows])
    return {"mean_bytes": float(sizes.mean()), "std_bytes": float(sizes.std()),
            "per_class_mean_bytes": {task.class_names[k]: float(sizes[labels == k].mean())
                                     for k in range(task.num_classes) if (labels == k).any()}}


def _environment(config: SuiteConfig) -> dict[str, Any]:
    import torch
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "torch_threads": torch.get_num_threads(),
            "machine": platform.machine(), "processor": platform.processor() or platform.machine()}


def run_suite(config: SuiteConfig, out_dir: str | Path | None = None, log: Callable[[str], None] = print,
              command: str | None = None) -> dict[str, Any]:
    """Run the suite; with ``out_dir`` write ``results.json`` after every run and the report at the end."""
    import torch

    from .byte_model import BYTE_MODELS, train_byte_model
    from .pixel_model import train_pixel_model
    from .size_baseline import chance, size_only

    torch.set_num_threads(int(config.threads))
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    results: dict[str, Any] = {"config": asdict(config), "command": command, "environment": _environment(config),
                               "tasks": {}}
    pretrain_needed = any(BYTE_MODELS.get(m) for m in config.models)
    total = len(config.seeds) * len(config.tasks) * len(config.encodings)
    done = 0
    for seed in config.seeds:
        for task_name, encoding in [(t, e) for t in config.tasks for e in config.encodings]:
            done += 1
            task = build_task(task_name, encoding=encoding)
            key = entry_key(task_name, encoding)
            entry = results["tasks"].setdefault(key, {
                "task": task_name, "encoding": encoding,
                "description": task.description, "classes": list(task.class_names),
                "settings": task.to_dict(), "runs": {m: [] for m in config.models}, "size_stats": []})
            where = f"[{done}/{total}] {key} seed {seed}"
            t0 = time.perf_counter()
            train = task.generate(config.train_clips, "train", seed=seed, num_proc=config.num_proc)
            heldout = task.generate(config.eval_clips, "heldout", seed=seed, num_proc=config.num_proc)
            pretrain = (task.generate(config.pretrain_clips or config.train_clips, "pretrain", seed=seed,
                                      num_proc=config.num_proc) if pretrain_needed else None)
            entry["size_stats"].append(_size_stats(task, train))
            log(f"{where}: {len(train)} train / {len(heldout)} held-out"
                f"{f' / {len(pretrain)} pre-training' if pretrain else ''} clips in {time.perf_counter() - t0:.1f} s")
            for model in config.models:
                t0 = time.perf_counter()
                if model == "size":
                    run = size_only(train, heldout)
                elif model == "chance":
                    run = chance(train, heldout)
                elif model == "pixels":
                    run = train_pixel_model(task, train, heldout, config.cpu_seconds, seed=seed,
                                            batch_size=config.batch_size, learning_rate=config.pixel_learning_rate,
                                            curve_points=config.curve_points)
                else:
                    run = train_byte_model(model, task, train, heldout, config.cpu_seconds, seed=seed,
                                           pretrain_rows=pretrain, pretrain_fraction=config.pretrain_fraction,
                                           preset=config.preset, batch_size=config.batch_size,
                                           learning_rate=config.byte_learning_rate, curve_points=config.curve_points)
                run["seed"] = seed
                entry["runs"][model].append(run)
                steps = f", {run['steps']} steps" if "steps" in run else ""
                log(f"{where}: {model:<13} held-out accuracy {run['accuracy']:.3f} "
                    f"({run.get('cpu_seconds', 0.0):.0f} CPU s{steps}; {time.perf_counter() - t0:.0f} s wall)")
                entry["summary"] = {m: summarise(r) for m, r in entry["runs"].items() if r}
                results["wall_seconds"] = time.perf_counter() - started_wall
                results["cpu_seconds"] = time.process_time() - started_cpu
                if out is not None:
                    _write_json(results, out / "results.json")
    results["easiest_task"] = easiest_task(results)
    if out is not None:
        _write_json(results, out / "results.json")
        from .report import write_report

        write_report(results, out)
    return results


def easiest_task(results: dict[str, Any]) -> str | None:
    """The task whose best learned model beats chance by the largest margin (its curve is the one plotted)."""
    best, name = -np.inf, None
    for task_name, entry in results["tasks"].items():
        summary = entry.get("summary", {})
        learned = [summary[m]["mean"] for m in LEARNED_MODELS if m in summary]
        if not learned:
            continue
        margin = max(learned) - summary.get("chance", {"mean": 1.0 / len(entry["classes"])})["mean"]
        if margin > best:
            best, name = margin, task_name
    return name


def merge_results(parts: list[dict[str, Any]], command: str | None = None) -> dict[str, Any]:
    """One results dict from suites run separately (e.g. one process per seed): runs concatenated per task and
    model, seeds united, summaries recomputed; the settings other than tasks, models and seeds must agree."""
    if not parts:
        raise ValueError("nothing to merge")
    keys = ("cpu_seconds", "train_clips", "eval_clips", "pretrain_clips", "pretrain_fraction", "batch_size",
            "preset", "threads")
    for part in parts[1:]:
        differ = [k for k in keys if part["config"].get(k) != parts[0]["config"].get(k)]
        if differ:
            raise ValueError(f"cannot merge suites run with different settings: {differ}")
    config = dict(parts[0]["config"])
    for key in ("tasks", "models", "seeds"):
        config[key] = list(dict.fromkeys(x for part in parts for x in part["config"][key]))
    # the suite's own column order (models of other parts would otherwise follow the first part's)
    config["models"].sort(key=lambda m: MODELS.index(m) if m in MODELS else len(MODELS))
    config["encodings"] = list(dict.fromkeys(x for part in parts
                                             for x in part["config"].get("encodings", [DEFAULT_ENCODING])))
    merged: dict[str, Any] = {"config": config, "command": command,
                              "commands": [part.get("command") for part in parts],
                              "environment": parts[0].get("environment", {}), "tasks": {},
                              "wall_seconds_each": [part.get("wall_seconds") for part in parts],
                              "cpu_seconds": sum(part.get("cpu_seconds", 0.0) for part in parts)}
    for part in parts:
        for task_name, entry in part["tasks"].items():
            target = merged["tasks"].setdefault(task_name, {**{k: v for k, v in entry.items()
                                                               if k not in ("runs", "summary", "size_stats")},
                                                            "runs": {m: [] for m in config["models"]},
                                                            "size_stats": []})
            target["size_stats"] += entry.get("size_stats", [])
            for model, runs in entry["runs"].items():
                target["runs"].setdefault(model, []).extend(runs)
    for entry in merged["tasks"].values():
        entry["summary"] = {m: summarise(r) for m, r in entry["runs"].items() if r}
    merged["easiest_task"] = easiest_task(merged)
    return merged


def _write_json(results: dict[str, Any], path: Path) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1, default=float))
    tmp.replace(path)
