#!/usr/bin/env python
"""The paper's baselines and ablations (Tables 7, 8, 9, 15) on the synthetic scene-cut benchmark, on a CPU.

Every variant is a ``BytesVideoForClassification`` with a different ``mixer_type`` / pooling / width, fine-tuned
through the same ``transformers.Trainer`` path (``bytevid_hf.training.finetune.run_finetuning``, as ``scripts/finetune.py``
and ``scripts/demo.py``) on the same clips, and evaluated on the same held-out split:

* Table 9 / 15 (backbones): each variant's ``hidden_size`` is scaled so its parameter count matches the reference
  multilevel SSM (``bytes-micro``) within ``--param_tolerance``; the flat variants keep the same total number of blocks
  (N·M) in one level.
* Table 8 (pooling) and Table 7 (embedding width): the reference with another pooling / wider D, not parameter-matched
  (as in the paper).

Each variant trains in its own process until that process has used ``--cpu_minutes`` of CPU time
(``time.process_time()``, robust to other jobs sharing the cores; ``CPUTimeBudgetCallback``): an equal compute budget,
so a slower backbone does fewer optimizer steps. ``--workers`` variants run at once, one thread each. Outputs in
``--output_dir``: ``results.json``, ``results.md`` (the table), the bar chart (``--figure``), one folder per variant
(checkpoint, ``result.json``; a variant whose ``result.json`` exists is not rerun).

    python scripts/ablate.py --figure docs/ablation.png        # README run (defaults): 19.5 min on 2 shared cores
    python scripts/ablate.py --cpu_minutes 0.05 --train_videos 16 --test_videos 8 --variants mamba bf_ti  # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
PRESET = "bytes-micro"


@dataclass
class Variant:
    """One row of the ablation: config overrides of the ``bytes-micro`` preset and the paper row it reproduces."""

    name: str
    table: str  # paper table
    paper_row: str
    paper_k600: float | None  # Kinetics-600 top-1 in the paper (None = "N/A")
    overrides: dict = field(default_factory=dict)
    param_matched: bool = True


# The reference (paper: Bytes-Tiny, 25.4 on K600 in Tables 7, 8, 9 and 15) is bytes-micro itself.
VARIANTS = [
    Variant("mamba", "7/8/9/15", "Bytes-Tiny (with Multilevel SSM) (ours)", 25.4, {}),
    Variant("transformer", "9", "Transformer (global attention)", None,
            dict(mixer_type="transformer", num_levels=1, layers_per_level=4)),
    Variant("local_attention", "9", "Transformer with local attention with 512 tokens", 15.4,
            dict(mixer_type="local_attention", num_levels=1, layers_per_level=4, attention_window=512)),
    Variant("causal_conv", "9", "Causal Conv", 15.8, dict(mixer_type="causal_conv")),
    Variant("bf_ti", "9", "BF-Ti (Horton et al. 2023)", 17.5,
            dict(mixer_type="bf_ti", bf_ti_conv_stride=16, attention_window=128)),
    Variant("multilevel_transformer", "9", "Multilevel Transformer", 16.7,
            dict(mixer_type="transformer", num_attention_heads=2)),
    Variant("mamba_flat", "9", "Mamba (Baseline SSM)", 18.4, dict(mixer_type="mamba_flat")),
    Variant("chunked_ssm", "15", "Chunked (Bhirangi et al. 2024)", 25.1,
            dict(mixer_type="chunked_ssm", ssm_chunk_size=1024)),
    Variant("pooling_average", "8", "Average Pooling", 20.7, dict(pooling="average"), param_matched=False),
    Variant("pooling_attention", "8", "Attention Pooling", 23.9, dict(pooling="attention"), param_matched=False),
    Variant("width_2x", "7", "512 Embedding", 25.7, dict(hidden_size=48), param_matched=False),
    Variant("width_4x", "7", "1024 Embedding", 21.2, dict(hidden_size=96), param_matched=False),
]
VARIANT_NAMES = [v.name for v in VARIANTS]

# The synthetic clips of the ablation: shorter and lower-bitrate than the demo's (~4 KB instead of ~9 KB), so the
# global-attention baseline stays trainable on a CPU.
TASK_SETTINGS = dict(bitrate=16_000, min_frames=24, max_frames=36, min_scene_frames=6)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default="ablation_output")
    parser.add_argument("--figure", default=None, help="bar chart path (default: <output_dir>/ablation.png)")
    parser.add_argument("--variants", nargs="+", default=VARIANT_NAMES, choices=VARIANT_NAMES, metavar="NAME",
                        help=f"subset to run, from {VARIANT_NAMES}")
    parser.add_argument("--cpu_minutes", type=float, default=1.5, help="CPU-time training budget of every variant")
    parser.add_argument("--train_videos", type=int, default=1000)
    parser.add_argument("--test_videos", type=int, default=200)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--learning_rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=6, help="variants trained at once (one thread each)")
    parser.add_argument("--param_tolerance", type=float, default=0.10,
                        help="relative parameter-count mismatch allowed for the parameter-matched variants")
    parser.add_argument("--run_variant", default=None, help=argparse.SUPPRESS)  # internal: one variant's spec file
    args = parser.parse_args(argv)
    if not args.cpu_minutes > 0:
        parser.error(f"--cpu_minutes must be > 0, got {args.cpu_minutes}")
    if args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    return args


# ---------------------------------------------------------------------------------------------------------------------
# Parameter matching and FLOPs
# ---------------------------------------------------------------------------------------------------------------------
def build_config(overrides: dict, num_labels: int):
    from bytevid_hf import BytesVideoConfig

    return BytesVideoConfig.from_preset(PRESET, num_labels=num_labels, **overrides)


def match_width(overrides: dict, target: int, num_labels: int, tolerance: float) -> tuple[dict, int]:
    """The ``hidden_size`` whose parameter count is closest to ``target`` (widths the config rejects, e.g. not
    divisible by ``num_attention_heads``, are skipped)."""
    from bytevid_hf.experiments.flops import count_parameters

    best = None
    for width in range(2, 1025):
        candidate = {**overrides, "hidden_size": width}
        try:
            params = count_parameters(build_config(candidate, num_labels))
        except ValueError:  # e.g. heads do not divide a level width
            continue
        if best is None or abs(params - target) < abs(best[1] - target):
            best = (candidate, params)
        if params > 2 * target:
            break
    if best is None or abs(best[1] - target) > tolerance * target:
        raise ValueError(f"no hidden_size matches {target} parameters within {tolerance:.0%} for {overrides}")
    return best


# ---------------------------------------------------------------------------------------------------------------------
# One variant (runs in its own process so that its CPU time is its own)
# ---------------------------------------------------------------------------------------------------------------------
def run_variant(spec_path: str) -> None:
    import torch
    from transformers import TrainingArguments

    from bytevid_hf.training.callbacks import CPUTimeBudgetCallback
    from bytevid_hf.training.finetune import DataArguments, ModelArguments, run_finetuning

    spec = json.loads(Path(spec_path).read_text())
    torch.set_num_threads(1)
    run_dir = Path(spec["run_dir"])
    budget = CPUTimeBudgetCallback(spec["cpu_minutes"] * 60)
    training_args = TrainingArguments(
        output_dir=str(run_dir / "checkpoint"),
        per_device_train_batch_size=spec["batch_size"],
        per_device_eval_batch_size=16,
        learning_rate=spec["learning_rate"],
        weight_decay=0.01,
        warmup_steps=50,
        lr_scheduler_type="constant_with_warmup",
        max_steps=1_000_000,  # the CPU-time budget stops training
        eval_strategy="no",
        save_strategy="no",
        logging_steps=25,
        report_to=[],
        seed=spec["seed"],
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    started = time.time()
    metrics = run_finetuning(
        ModelArguments(preset=PRESET, config_overrides=json.dumps(spec["overrides"])),
        DataArguments(dataset_path=spec["dataset_path"]),
        training_args,
        callbacks=[budget],
    )
    result = {
        "accuracy": float(metrics["eval_accuracy"]),
        "steps": budget.steps,
        "train_cpu_seconds": budget.cpu_seconds,
        "wall_seconds": time.time() - started,
    }
    (run_dir / "result.json").write_text(json.dumps(result, indent=2))


# ---------------------------------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------------------------------
def make_data(args, out: Path) -> dict:
    """Generate (or reuse) the clips; return the baselines and the mean clip length."""
    import datasets

    from bytevid_hf.experiments.baselines import SizeOnlyClassifier, chance_accuracy
    from bytevid_hf.data.synthetic import SyntheticVideoTask

    task = SyntheticVideoTask(**TASK_SETTINGS)
    data_dir = out / "data"
    info_path = out / "data_info.json"
    expected = {"task": task.to_dict(), "train_videos": args.train_videos, "test_videos": args.test_videos,
                "seed": args.seed}
    if info_path.exists() and json.loads(info_path.read_text()).get("settings") == json.loads(json.dumps(expected)):
        return json.loads(info_path.read_text())
    train_rows = task.generate(args.train_videos, seed=args.seed, num_proc=args.workers)
    test_rows = task.generate(args.test_videos, seed=args.seed + 1, num_proc=args.workers)
    features = datasets.Features({"video": datasets.Value("binary"), "label": datasets.ClassLabel(names=task.class_names),
                                  "seed": datasets.Value("int64")})
    datasets.DatasetDict(
        train=datasets.Dataset.from_list(train_rows, features=features),
        test=datasets.Dataset.from_list(test_rows, features=features),
    ).save_to_disk(str(data_dir))
    train_labels, test_labels = [r["label"] for r in train_rows], [r["label"] for r in test_rows]
    size_clf = SizeOnlyClassifier().fit([len(r["video"]) for r in train_rows], train_labels)
    sizes = [len(r["video"]) for r in train_rows + test_rows]
    info = {
        "settings": expected,
        "num_labels": task.num_classes,
        "mean_bytes": round(sum(sizes) / len(sizes)),
        "min_bytes": min(sizes),
        "max_bytes": max(sizes),
        "chance_accuracy": float(chance_accuracy(train_labels, test_labels)),
        "size_only_accuracy": float(size_clf.score([len(r["video"]) for r in test_rows], test_labels)),
    }
    info_path.write_text(json.dumps(info, indent=2))
    return info


def plan_variants(args, info: dict) -> list[dict]:
    from bytevid_hf.experiments.flops import count_parameters, forward_flops

    num_labels = info["num_labels"]
    reference = count_parameters(build_config({}, num_labels))
    plans = []
    for variant in VARIANTS:
        if variant.name not in args.variants:
            continue
        overrides = dict(variant.overrides)
        if variant.param_matched and variant.name != "mamba":
            overrides, _ = match_width(overrides, reference, num_labels, args.param_tolerance)
        config = build_config(overrides, num_labels)
        plans.append({
            **asdict(variant),
            "overrides": overrides,
            "hidden_size": config.hidden_size,
            "parameters": count_parameters(config),
            "gflops_per_clip": forward_flops(config, info["mean_bytes"]) / 1e9,
        })
    return plans


def launch(plan: dict, args, out: Path) -> subprocess.Popen | None:
    run_dir = out / plan["name"]
    run_dir.mkdir(parents=True, exist_ok=True)
    if (run_dir / "result.json").exists():
        return None
    spec = {**plan, "run_dir": str(run_dir), "dataset_path": str(out / "data"), "cpu_minutes": args.cpu_minutes,
            "batch_size": args.batch_size, "learning_rate": args.learning_rate, "seed": args.seed}
    spec_path = run_dir / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=2))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    log = open(run_dir / "train.log", "w")
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--run_variant", str(spec_path)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)


def run_all(plans: list[dict], args, out: Path) -> None:
    from tqdm.auto import tqdm

    pending = list(plans)
    running: dict[str, subprocess.Popen] = {}
    with tqdm(total=len(plans), desc="ablation variants", unit="variant") as bar:
        while pending or running:
            while pending and len(running) < args.workers:
                plan = pending.pop(0)
                process = launch(plan, args, out)
                if process is None:
                    bar.update(1)
                else:
                    running[plan["name"]] = process
            for name, process in list(running.items()):
                if process.poll() is not None:
                    del running[name]
                    bar.update(1)
                    if process.returncode:
                        raise RuntimeError(f"variant {name!r} failed (exit {process.returncode}); see "
                                           f"{out / name / 'train.log'}")
                    bar.set_postfix_str(f"{name}: {json.loads((out / name / 'result.json').read_text())['accuracy']:.3f}")
            time.sleep(1.0)


def write_outputs(plans: list[dict], info: dict, args, out: Path) -> dict:
    rows = []
    for plan in plans:
        result = json.loads((out / plan["name"] / "result.json").read_text())
        rows.append({**plan, **result})
    results = {"data": info, "cpu_minutes": args.cpu_minutes, "batch_size": args.batch_size,
               "learning_rate": args.learning_rate, "seed": args.seed, "variants": rows}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    lines = [
        "| paper table | variant (`mixer_type`, overrides) | paper row | paper K600 | D | parameters | GFLOPs / clip "
        "| steps in budget | held-out accuracy |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        shown = {k: v for k, v in row["overrides"].items() if k != "hidden_size" or not row["param_matched"]}
        desc = ", ".join(f"{k}={v}" for k, v in shown.items()) or "bytes-micro"
        paper = "N/A" if row["paper_k600"] is None else f"{row['paper_k600']:.1f}"
        lines.append(f"| {row['table']} | `{row['name']}` ({desc}) | {row['paper_row']} | {paper} | {row['hidden_size']} "
                     f"| {row['parameters'] / 1e6:.3f}M | {row['gflops_per_clip']:.2f} | {row['steps']} "
                     f"| {row['accuracy']:.3f} |")
    lines.append(f"| - | file-size-only classifier | - | - | - | - | - | - | {info['size_only_accuracy']:.3f} |")
    lines.append(f"| - | chance (majority class) | - | - | - | - | - | - | {info['chance_accuracy']:.3f} |")
    table = "\n".join(lines) + "\n"
    (out / "results.md").write_text(table)
    plot(rows, info, Path(args.figure) if args.figure else out / "ablation.png", args.cpu_minutes)
    print(table)
    return results


def plot(rows: list[dict], info: dict, path: Path, cpu_minutes: float) -> None:
    """The bar chart of the accuracies; needs matplotlib (``pip install "bytevid-hf[plots]"``)."""
    from bytevid_hf.extras import pyplot

    plt = pyplot("scripts/ablate.py's figure")

    colors = {"7": "tab:purple", "8": "tab:green", "9": "tab:blue", "15": "tab:orange", "7/8/9/15": "tab:red"}
    fig, ax = plt.subplots(figsize=(10, 4.2))
    names = [r["name"] for r in rows]
    ax.bar(names, [r["accuracy"] for r in rows], color=[colors.get(r["table"], "gray") for r in rows])
    ax.axhline(info["chance_accuracy"], color="black", linestyle="--", linewidth=1, label="chance")
    ax.axhline(info["size_only_accuracy"], color="gray", linestyle=":", linewidth=1, label="file size only")
    for i, r in enumerate(rows):
        ax.text(i, r["accuracy"] + 0.01, f"{r['accuracy']:.2f}", ha="center", fontsize=8)
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(f"Synthetic scene-cut task, {cpu_minutes:g} CPU-minutes of training per variant "
                 "(red: reference; blue: Table 9; orange: Table 15; green: Table 8; purple: Table 7)", fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict | None:
    args = parse_args(argv)
    if args.run_variant:
        run_variant(args.run_variant)
        return None
    from bytevid_hf.extras import require

    require("matplotlib", "plots", "scripts/ablate.py's figure")  # fail now, not after the training runs
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    info = make_data(args, out)
    print(f"clips: {info['min_bytes']}-{info['max_bytes']} bytes (mean {info['mean_bytes']}); "
          f"size-only {info['size_only_accuracy']:.3f}, chance {info['chance_accuracy']:.3f}")
    plans = plan_variants(args, info)
    for plan in plans:
        print(f"  {plan['name']:24s} D={plan['hidden_size']:4d} params={plan['parameters']:>9,d} "
              f"GFLOPs/clip={plan['gflops_per_clip']:.2f}")
    run_all(plans, args, out)
    results = write_outputs(plans, info, args, out)
    results["total_minutes"] = (time.time() - started) / 60
    (out / "results.json").write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
