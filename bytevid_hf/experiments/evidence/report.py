"""``results.json`` -> ``results.md`` (accuracy table, CPU time and input per model), ``accuracy.png`` (bars with
standard deviations), ``encodings.png`` (the byte model per task and encoding, when several ran) and ``curve.png``
(held-out accuracy vs CPU time on the easiest task). matplotlib is imported
only here, and only when a figure is drawn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["markdown_table", "encoding_table", "write_report", "plot_accuracy", "plot_curve", "plot_encodings"]

_LABELS = {
    "bytes": "bytes (scratch)",
    "bytes_pt_rgb": "bytes + RGB pre-train",
    "bytes_pt_next": "bytes + next-byte pre-train",
    "pixels": "pixels (VideoMAE)",
    "size": "size only",
    "chance": "chance",
}


def _models(results: dict[str, Any]) -> list[str]:
    return list(results["config"]["models"])


def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return f"{n:.0f}"


def markdown_table(results: dict[str, Any]) -> str:
    """The accuracy table (tasks x models, mean ± std over seeds) and the per-model cost table, as Markdown."""
    models = _models(results)
    config = results["config"]
    lines = [
        f"Held-out accuracy, mean ± std over {len(config['seeds'])} seed(s) (seeds {config['seeds']}); every learned "
        f"model trained for {config['cpu_seconds']:g} CPU s ({results.get('environment', {}).get('torch_threads', '?')}"
        f" torch thread(s)); {config['train_clips']} training / {config['eval_clips']} held-out clips per task and seed.",
        "",
        "| task | classes | " + " | ".join(_LABELS.get(m, m) for m in models) + " |",
        "|---|---|" + "---|" * len(models),
    ]
    for task, entry in results["tasks"].items():
        summary = entry.get("summary", {})
        if not summary:  # generated but stopped before a model finished
            continue
        cells = []
        for m in models:
            s = summary.get(m)
            if s is None:
                cells.append("—")
            else:
                partial = f" (n={s['n']})" if s["n"] != len(config["seeds"]) else ""
                cells.append(f"{s['mean']:.3f} ± {s['std']:.3f}{partial}")
        lines.append(f"| {task} | {len(entry['classes'])} | " + " | ".join(cells) + " |")
    lines += ["", "CPU time and input per model (means over tasks and seeds):", "",
              "| model | CPU s (pre-train + fine-tune) | optimizer steps | reads per clip | read in training | "
              "decode CPU s (not in budget) |", "|---|---|---|---|---|---|"]
    for m in models:
        runs = [r for entry in results["tasks"].values() for r in entry["runs"].get(m, [])]
        if not runs:
            continue

        def mean(key: str) -> float:
            values = [r.get(key, 0.0) for r in runs]
            return sum(values) / len(values)

        cpu = f"{mean('cpu_seconds'):.0f}"
        if mean("pretrain_cpu_seconds"):
            cpu += f" ({mean('pretrain_cpu_seconds'):.0f} + {mean('finetune_cpu_seconds'):.0f})"
        steps = f"{mean('steps'):.0f}" if "steps" in runs[0] else "—"
        unit = runs[0].get("input_unit", "")
        per_clip = f"{_human(mean('input_per_clip'))} {unit}" if mean("input_per_clip") > 1 else unit
        read = _human(mean("input_read")) if "input_read" in runs[0] else "—"
        decode = f"{mean('decode_cpu_seconds'):.1f}" if "decode_cpu_seconds" in runs[0] else "—"
        lines.append(f"| {_LABELS.get(m, m)} | {cpu} | {steps} | {per_clip} | {read} | {decode} |")
    if results.get("wall_seconds") is not None:
        lines += ["", f"Whole suite: {results['wall_seconds'] / 60:.1f} min wall, "
                      f"{results.get('cpu_seconds', 0.0) / 60:.1f} min CPU (this process)."]
    if results.get("wall_seconds_each"):
        walls = ", ".join(f"{w / 60:.1f}" for w in results["wall_seconds_each"] if w is not None)
        lines += ["", f"Merged from {len(results['wall_seconds_each'])} runs (wall minutes each: {walls}; "
                      f"{results.get('cpu_seconds', 0.0) / 60:.1f} CPU minutes together)."]
    commands = [c for c in results.get("commands") or [] if c]
    if commands or results.get("command"):
        lines += ["", "Commands:" if commands else "Command:", "", "```", *commands]
        lines += [results["command"], "```"] if results.get("command") else ["```"]
    return "\n".join(lines) + "\n"


def _encodings(results: dict[str, Any]) -> list[str]:
    found = [entry.get("encoding", "h264") for entry in results["tasks"].values()]
    return list(dict.fromkeys([*results["config"].get("encodings", []), *found]))


def _byte_model(results: dict[str, Any]) -> str | None:
    """The byte model the encoding table and figure report: the first of the suite's byte models that ran."""
    return next((m for m in ("bytes", "bytes_pt_rgb", "bytes_pt_next") if m in _models(results)), None)


def _by_task_and_encoding(results: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{task: {encoding: entry}}`` over the entries that finished at least one model, in results order."""
    grouped: dict[str, dict[str, dict[str, Any]]] = {}
    for entry in results["tasks"].values():
        if entry.get("summary"):
            task = entry.get("task") or entry["settings"].get("name")
            grouped.setdefault(task, {})[entry.get("encoding", "h264")] = entry
    return grouped


def encoding_table(results: dict[str, Any]) -> str:
    """Which bytes are learnable: tasks x encodings, the byte model's held-out accuracy (mean ± std over seeds) with
    the size-only baseline and the mean file size of each (task, encoding); empty when only one encoding ran."""
    encodings = _encodings(results)
    if encodings == ["h264"]:  # the default alone: the main table says it all
        return ""
    model = _byte_model(results)
    grouped = _by_task_and_encoding(results)
    if not grouped:
        return ""

    def cell(entry: dict[str, Any] | None) -> str:
        if entry is None:
            return "—"
        summary, parts = entry["summary"], []
        if model and model in summary:
            parts.append(f"**{summary[model]['mean']:.3f} ± {summary[model]['std']:.3f}**")
        if "size" in summary:
            parts.append(f"size {summary['size']['mean']:.3f}")
        stats = entry.get("size_stats") or []
        if stats:
            parts.append(f"{sum(s['mean_bytes'] for s in stats) / len(stats) / 1000:.1f} KB")
        return "; ".join(parts) or "—"

    what = f"{_LABELS.get(model, model)} held-out accuracy (mean ± std over seeds)" if model else "no byte model ran"
    lines = [f"Which bytes are learnable: {what}; size-only accuracy; mean file size — per task and encoding, "
             f"every learned model at {results['config']['cpu_seconds']:g} CPU s.", "",
             "| task | chance | " + " | ".join(encodings) + " |", "|---|---|" + "---|" * len(encodings)]
    for task, row in grouped.items():
        classes = len(next(iter(row.values()))["classes"])
        lines.append(f"| {task} | {1 / classes:.3f} | " + " | ".join(cell(row.get(e)) for e in encodings) + " |")
    return "\n".join(lines) + "\n"


def plot_accuracy(results: dict[str, Any], path: str | Path) -> None:
    """Grouped bars: tasks x models, error bars = std over seeds."""
    from bytevid_hf.extras import pyplot

    plt = pyplot("the evidence report's accuracy figure")  # without matplotlib: ImportError naming [plots]
    import numpy as np

    models = _models(results)
    # the default encoding's entries only (the other encodings have their own figure, encodings.png)
    tasks = [t for t, entry in results["tasks"].items()
             if entry.get("summary") and entry.get("encoding", "h264") == "h264"]
    width = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(tasks)), 4))
    for k, m in enumerate(models):
        means = [results["tasks"][t].get("summary", {}).get(m, {}).get("mean", np.nan) for t in tasks]
        stds = [results["tasks"][t].get("summary", {}).get(m, {}).get("std", 0.0) for t in tasks]
        ax.bar(np.arange(len(tasks)) + (k - (len(models) - 1) / 2) * width, means, width, yerr=stds, capsize=2,
               label=_LABELS.get(m, m))
    ax.set_xticks(np.arange(len(tasks)))
    ax.set_xticklabels(tasks)
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1.2)
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_title(f"{results['config']['cpu_seconds']:g} CPU s per learned model, {len(results['config']['seeds'])} seeds")
    ax.legend(fontsize=7, ncol=3, loc="upper center")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_encodings(results: dict[str, Any], path: str | Path) -> None:
    """Grouped bars: tasks x encodings, the byte model's held-out accuracy (std over seeds as error bars), each task's
    chance level as a dashed line."""
    from bytevid_hf.extras import pyplot

    plt = pyplot("the evidence report's encodings figure")  # without matplotlib: ImportError naming [plots]
    import numpy as np

    model = _byte_model(results)
    encodings = _encodings(results)
    grouped = {task: row for task, row in _by_task_and_encoding(results).items()
               if any(model in entry["summary"] for entry in row.values())}
    cells = {task: {e: entry["summary"][model] for e, entry in row.items() if model in entry["summary"]}
             for task, row in grouped.items()}
    classes = {task: len(next(iter(row.values()))["classes"]) for task, row in grouped.items()}
    tasks = list(cells)
    width = 0.8 / max(1, len(encodings))
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(tasks)), 4))
    for k, encoding in enumerate(encodings):
        means = [cells[t].get(encoding, {}).get("mean", np.nan) for t in tasks]
        stds = [cells[t].get(encoding, {}).get("std", 0.0) for t in tasks]
        ax.bar(np.arange(len(tasks)) + (k - (len(encodings) - 1) / 2) * width, means, width, yerr=stds, capsize=2,
               label=encoding)
    for i, t in enumerate(tasks):
        ax.hlines(1 / classes[t], i - 0.45, i + 0.45, colors="k", linestyles="--", lw=1,
                  label="chance" if i == 0 else None)
    ax.set_xticks(np.arange(len(tasks)))
    ax.set_xticklabels(tasks)
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1.2)
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_title(f"{_LABELS.get(model, model)} by encoding, {results['config']['cpu_seconds']:g} CPU s, "
                 f"{len(results['config']['seeds'])} seeds")
    ax.legend(fontsize=7, ncol=3, loc="upper center")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_curve(results: dict[str, Any], task: str, path: str | Path) -> None:
    """Held-out accuracy vs CPU seconds (pre-training included) of every learned model on ``task``, one line per
    seed, chance and size-only as horizontal lines."""
    from bytevid_hf.extras import pyplot

    plt = pyplot("the evidence report's curve figure")  # without matplotlib: ImportError naming [plots]

    entry = results["tasks"][task]
    fig, ax = plt.subplots(figsize=(6, 4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, m in enumerate(_models(results)):
        runs = entry["runs"].get(m, [])
        if m in ("size", "chance"):
            if runs:
                ax.axhline(entry["summary"][m]["mean"], ls="--", color=colours[k % len(colours)],
                           label=_LABELS.get(m, m))
            continue
        for i, run in enumerate(runs):
            xs = [p[0] for p in run.get("curve", [])]
            ys = [p[2] for p in run.get("curve", [])]
            ax.plot(xs, ys, marker="o", ms=3, color=colours[k % len(colours)], alpha=0.8,
                    label=_LABELS.get(m, m) if i == 0 else None)
    ax.set_xscale("log")
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("CPU seconds (training; pre-training included)")
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(f"{task}: accuracy vs CPU time")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(results: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.md``, ``accuracy.png`` and ``curve.png`` (easiest task) into ``out_dir``; return the paths."""
    out = Path(out_dir)
    paths = {"markdown": out / "results.md"}
    text = markdown_table(results)
    by_encoding = encoding_table(results)
    if by_encoding:
        text += "\n" + by_encoding
    task = results.get("easiest_task")
    if task:
        text += f"\nAccuracy vs CPU time on the easiest task ({task}): curve.png\n"
    paths["markdown"].write_text(text)
    paths["accuracy_png"] = out / "accuracy.png"
    plot_accuracy(results, paths["accuracy_png"])
    if by_encoding:
        paths["encodings_png"] = out / "encodings.png"
        plot_encodings(results, paths["encodings_png"])
    if task:
        paths["curve_png"] = out / "curve.png"
        plot_curve(results, task, paths["curve_png"])
    return paths
