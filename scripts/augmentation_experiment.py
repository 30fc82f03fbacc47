#!/usr/bin/env python
"""Does augmentation (K re-encoded RGB-augmented copies per clip) and next-byte pre-training help? (paper Tables 10, 12)

    python scripts/augmentation_experiment.py                     # defaults below, ~25 min on 2 CPU cores
    python scripts/augmentation_experiment.py --seed 1 --out-dir runs/seed1          # one run per seed, then:
    python scripts/augmentation_experiment.py --merge runs/seed0 runs/seed1 runs/seed2  # mean ± std over the runs

On the built-in synthetic task (``bytevid_hf.data.synthetic``: 4 classes = number of hard scene cuts, 64x64 H.264 clips)
with a small labelled training set, ``bytes-micro`` is fine-tuned with Trainer for the same number of steps in four
conditions and scored on the same held-out clips:

* 1x data          — the N original training clips;
* Kx augmented     — each clip plus K-1 ``VideoAugmenter`` re-encodings (spatial crop, colour ops, cutout; no
  temporal crop, which could remove a scene cut and change the label; the task's own x264 rate-control settings so
  the file size stays uninformative);
* + next-byte pre-training — the same two, starting from a ``BytesVideoForCausalLM`` pre-trained on the same
  (unlabelled) original clips, so pre-training adds an objective, not data.

Writes ``benchmarks/results/augmentation/experiment.{json,md,png}``. The numbers are whatever the run gives.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: no spinning threads on a shared machine

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402


def _augment_one(job):
    from bytevid_hf.processing.augment import VideoAugmenter

    settings, video, seed = job
    return VideoAugmenter(**settings)(video, seed=seed)


def augment_rows(rows, copies, settings, num_proc, seed):
    from tqdm.auto import tqdm

    jobs = [(settings, row["video"], seed * 1_000_003 + i * 101 + k) for i, row in enumerate(rows)
            for k in range(1, copies)]
    with ProcessPoolExecutor(num_proc) as pool:
        videos = list(tqdm(pool.map(_augment_one, jobs, chunksize=8), total=len(jobs), desc="augmenting"))
    out = list(rows)
    index = 0
    for row in rows:
        for _ in range(1, copies):
            out.append({"video": videos[index], "label": row["label"], "seed": -1})
            index += 1
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-videos", type=int, default=200)
    parser.add_argument("--test-videos", type=int, default=400)
    parser.add_argument("--copies", type=int, default=4, help="K: encodings per training clip in the Kx condition")
    parser.add_argument("--steps", type=int, default=400, help="fine-tuning steps per condition")
    parser.add_argument("--pretrain-steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-proc", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out-dir", default="benchmarks/results/augmentation")
    parser.add_argument("--merge", nargs="+", metavar="DIR", default=None,
                        help="combine the experiment.json of earlier runs (one per seed, same settings) into mean ± std "
                             "per condition in --out-dir; runs nothing")
    args = parser.parse_args(argv)
    if args.merge:
        return write_merged(merge_runs([Path(d) for d in args.merge]), Path(args.out_dir))

    from bytevid_hf.extras import pyplot

    plt = pyplot("scripts/augmentation_experiment.py's figure")  # pip install "bytevid-hf[plots]"; fails before the runs
    import datasets
    import torch
    from transformers import Trainer, TrainingArguments

    from bytevid_hf import BytesVideoConfig, BytesVideoForCausalLM, BytesVideoProcessor
    from bytevid_hf.training.pretraining import NextByteCollator
    from bytevid_hf.data.synthetic import SyntheticVideoTask
    from bytevid_hf.training.finetune import DataArguments, ModelArguments, run_finetuning

    started = time.time()
    task = SyntheticVideoTask()
    train = task.generate(args.train_videos, seed=args.seed + 10, num_proc=args.num_proc)
    test = task.generate(args.test_videos, seed=args.seed + 11, num_proc=args.num_proc)
    settings = dict(size=min(task.width, task.height), fps=task.fps, bitrate=task.bitrate, temporal_crop=False,
                    encoder_options={"preset": task.preset, "x264-params": task.x264_params(task.bitrate)})
    augmented = augment_rows(train, args.copies, settings, args.num_proc, args.seed)
    features = datasets.Features({"video": datasets.Value("binary"),
                                  "label": datasets.ClassLabel(names=task.class_names),
                                  "seed": datasets.Value("int64")})
    work = Path(tempfile.mkdtemp(prefix="bytevid_aug_experiment_"))
    splits = {}
    for name, rows in (("1x", train), (f"{args.copies}x", augmented)):
        path = work / f"data_{name}"
        datasets.DatasetDict(train=datasets.Dataset.from_list(rows, features=features),
                             test=datasets.Dataset.from_list(test, features=features)).save_to_disk(str(path))
        splits[name] = path

    def common(output_dir, steps, lr):
        return dict(output_dir=str(output_dir), per_device_train_batch_size=args.batch_size,
                    per_device_eval_batch_size=32, learning_rate=lr, weight_decay=0.01, warmup_steps=min(50, steps // 5),
                    lr_scheduler_type="constant_with_warmup", max_steps=steps, eval_strategy="no",
                    save_strategy="no", logging_steps=50, report_to=[], seed=args.seed, use_cpu=True,
                    dataloader_num_workers=0)

    # Next-byte pre-training on the original (unlabelled) training clips.
    torch.manual_seed(args.seed)
    lm = BytesVideoForCausalLM(BytesVideoConfig.from_preset("bytes-micro"))
    lm_data = datasets.Dataset.from_list([{"video": r["video"]} for r in train])
    lm_trainer = Trainer(model=lm, args=TrainingArguments(**common(work / "pre", args.pretrain_steps, 1e-3),
                                                          remove_unused_columns=False),
                         train_dataset=lm_data, data_collator=NextByteCollator(BytesVideoProcessor(), max_length=8192))
    lm_trainer.train()
    pre_losses = [e["loss"] for e in lm_trainer.state.log_history if "loss" in e]
    pretrained = work / "pretrained"
    lm.save_pretrained(pretrained)

    rows = []
    for data_name, path in splits.items():
        for pre in (False, True):
            model_args = ModelArguments(model_name_or_path=str(pretrained)) if pre else ModelArguments(
                preset="bytes-micro")
            out = work / f"ft_{data_name}_{'pre' if pre else 'scratch'}"
            metrics = run_finetuning(model_args, DataArguments(dataset_path=str(path)),
                                     TrainingArguments(**common(out, args.steps, args.learning_rate)))
            rows.append({"data": data_name, "pretraining": "next-byte" if pre else "none",
                         "train_clips": len(datasets.load_from_disk(str(path))["train"]),
                         "accuracy": float(metrics["eval_accuracy"])})
            print(rows[-1], flush=True)

    result = {"task": task.name, "num_classes": task.num_classes, "train_videos": args.train_videos,
              "test_videos": args.test_videos, "copies": args.copies, "steps": args.steps,
              "pretrain_steps": args.pretrain_steps, "batch_size": args.batch_size,
              "learning_rate": args.learning_rate, "seed": args.seed, "rows": rows,
              "pretrain_loss_first_last": [pre_losses[0], pre_losses[-1]] if pre_losses else None,
              "minutes": (time.time() - started) / 60,
              "command": " ".join(["python scripts/augmentation_experiment.py", *(sys.argv[1:] if argv is None else argv)])}
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "experiment.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"bytes-micro on the synthetic scene-cut task: {args.train_videos} labelled clips, {args.test_videos} "
             f"held-out, {args.steps} fine-tuning steps of batch {args.batch_size} in every condition "
             f"(`{result['command']}`)", "",
             "| training data | pre-training | training clips | held-out accuracy |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['data']} | {r['pretraining']} | {r['train_clips']} | {r['accuracy']:.3f} |")
    if pre_losses:
        lines += ["", f"Next-byte pre-training ({args.pretrain_steps} steps): loss {pre_losses[0]:.2f} → "
                      f"{pre_losses[-1]:.2f} nats/byte."]
    (out_dir / "experiment.md").write_text("\n".join(lines) + "\n")

    _figure(plt, rows, [r["accuracy"] for r in rows], None, task.num_classes,
            f"Augmentation and pre-training, bytes-micro, {args.steps} steps each", out_dir / "experiment.png")
    print("\n".join(lines))


def _figure(plt, rows, values, errors, num_classes, title, path) -> None:
    """Bars of held-out accuracy per condition (grey: from scratch, green: pre-trained), chance dotted."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels = [f"{r['data']}\n{'+ next-byte pre-train' if r['pretraining'] != 'none' else 'from scratch'}" for r in rows]
    ax.bar(range(len(rows)), values, yerr=errors, capsize=4 if errors else 0,
           color=["#4a7" if r["pretraining"] != "none" else "#999" for r in rows])
    ax.axhline(1 / num_classes, color="k", ls=":", lw=1, label="chance")
    ax.set_xticks(range(len(rows)), labels, fontsize=8)
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


_SETTINGS = ("task", "num_classes", "train_videos", "test_videos", "copies", "steps", "pretrain_steps", "batch_size",
             "learning_rate")


def merge_runs(folders: list[Path]) -> dict:
    """Mean and sample standard deviation of each condition's accuracy over runs (``experiment.json`` in each folder)
    made with the same settings and different seeds."""
    import statistics

    runs = []
    for folder in folders:
        path = folder / "experiment.json"
        if not path.is_file():
            raise FileNotFoundError(f"--merge: {path} does not exist (a run's --out-dir holds it)")
        runs.append(json.loads(path.read_text()))
    differ = [key for key in _SETTINGS if len({json.dumps(run[key]) for run in runs}) > 1]
    if differ:
        raise ValueError(f"--merge: the runs differ in {differ}; only the seed may differ")
    seeds = [run["seed"] for run in runs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--merge: a seed appears twice: {seeds}")
    conditions = [(row["data"], row["pretraining"]) for row in runs[0]["rows"]]
    rows = []
    for data, pretraining in conditions:
        accuracies = [row["accuracy"] for run in runs for row in run["rows"]
                      if (row["data"], row["pretraining"]) == (data, pretraining)]
        if len(accuracies) != len(runs):
            raise ValueError(f"--merge: condition {data} / {pretraining} is missing from a run")
        train_clips = next(row["train_clips"] for row in runs[0]["rows"] if (row["data"], row["pretraining"]) ==
                           (data, pretraining))
        rows.append({"data": data, "pretraining": pretraining, "train_clips": train_clips, "accuracies": accuracies,
                     "mean": statistics.fmean(accuracies),
                     "std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0})
    return {**{key: runs[0][key] for key in _SETTINGS}, "seeds": seeds, "rows": rows,
            "minutes": [run["minutes"] for run in runs], "commands": [run["command"] for run in runs]}


def write_merged(merged: dict, out_dir: Path) -> None:
    """``experiment.{json,md,png}`` of :func:`merge_runs`' result in ``out_dir``."""
    from bytevid_hf.extras import pyplot

    plt = pyplot("scripts/augmentation_experiment.py's figure")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "experiment.json").write_text(json.dumps(merged, indent=2) + "\n")
    rows, seeds = merged["rows"], merged["seeds"]
    lines = [f"bytes-micro on the synthetic scene-cut task: {merged['train_videos']} labelled clips, "
             f"{merged['test_videos']} held-out, {merged['steps']} fine-tuning steps of batch {merged['batch_size']} in "
             f"every condition; mean ± std over seeds {seeds}.", "",
             "| training data | pre-training | training clips | held-out accuracy | per seed |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['data']} | {r['pretraining']} | {r['train_clips']} | {r['mean']:.3f} ± {r['std']:.3f} | "
                     + ", ".join(f"{a:.3f}" for a in r["accuracies"]) + " |")
    lines += ["", "Commands:", "", "```", *merged["commands"], "```"]
    (out_dir / "experiment.md").write_text("\n".join(lines) + "\n")
    _figure(plt, rows, [r["mean"] for r in rows], [r["std"] for r in rows], merged["num_classes"],
            f"Augmentation and pre-training, bytes-micro, {merged['steps']} steps, {len(seeds)} seeds",
            out_dir / "experiment.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
