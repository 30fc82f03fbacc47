"""Publish a bytevid checkpoint (or a LoRA adapter) to the Hugging Face Hub.

    bytevid push out/checkpoint-700 --repo_id user/bytevid-kinetics --metrics eval.json
    bytevid push out/ --repo_id user/bytevid-kinetics --private --revision experiment-2
    bytevid push out/ --export_only hub_ready/      # write the folder, push nothing
    bytevid push lora_out/ --repo_id user/bytevid-lora --adapter

CHECKPOINT is a ``save_pretrained`` folder, a ``Trainer`` output folder (its latest ``checkpoint-N`` is used) or a
folder already written by ``export_checkpoint``. The pushed repo holds safetensors weights (sharded above
``--max_shard_size``), config, processor, a model card with ``model-index`` results, ``eval_results.json`` and the code
for ``trust_remote_code=True``. Metrics default to the last evaluation in ``trainer_state.json``.

The token is read by huggingface_hub from ``HF_TOKEN`` or ``hf auth login`` (never from the command line); the
endpoint from ``HF_ENDPOINT``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

CARD_DEFAULTS = dict(dataset_name="unspecified", datasets=None, base_model=None, license="apache-2.0",
                     max_shard_size="2GB", remote_code=True)


def parse_args(argv=None, prog: str | None = None):
    """The command line as a namespace (argparse only: nothing heavy is imported)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="saved model / Trainer output / exported folder (or adapter with --adapter)")
    parser.add_argument("--repo_id", help="Hub repo id, e.g. user/bytevid-kinetics (required unless --export_only)")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--revision", default=None, help="branch to push to (created from main when missing)")
    parser.add_argument("--commit_message", default=None)
    parser.add_argument("--create_pr", action="store_true", help="open a pull request instead of committing")
    parser.add_argument("--processor_path", default=None, help="folder of the processor when not in CHECKPOINT")
    parser.add_argument("--metrics", default=None, help="JSON file of evaluation metrics for the model card")
    parser.add_argument("--dataset_name", default=CARD_DEFAULTS["dataset_name"], help="evaluation data, as shown on the card")
    parser.add_argument("--datasets", nargs="*", default=None, help="Hub dataset ids for the card metadata")
    parser.add_argument("--base_model", default=None, help="Hub id of the checkpoint this one was fine-tuned from")
    parser.add_argument("--license", default=CARD_DEFAULTS["license"])
    parser.add_argument("--max_shard_size", default=CARD_DEFAULTS["max_shard_size"])
    parser.add_argument("--no_remote_code", action="store_true", help="do not ship the code files / auto_map")
    parser.add_argument("--export_only", default=None, metavar="OUT_DIR", help="write the Hub-ready folder only")
    parser.add_argument("--adapter", action="store_true", help="CHECKPOINT is a peft LoRA adapter folder")
    args = parser.parse_args(argv)
    if args.export_only is None and not args.repo_id:
        parser.error("--repo_id is required unless --export_only is given")
    return args


def check(argv: list[str], prog: str = "bytevid push") -> None:
    """``--help`` and usage errors, before anything heavy is imported."""
    parse_args(argv, prog)


def main(argv=None, prog: str | None = "bytevid push") -> int:
    """Parse ``argv`` and push (or export) the checkpoint or adapter; returns 0."""
    args = parse_args(argv, prog)
    from bytevid_hf.hub import convert_trainer_checkpoint, push_adapter, push_checkpoint

    metrics = None
    if args.metrics:
        metrics = json.loads(Path(args.metrics).read_text(encoding="utf-8"))
        if not isinstance(metrics, dict):
            raise SystemExit(f"--metrics {args.metrics}: expected a JSON object of metric name -> value")
    if args.adapter:
        info = push_adapter(args.checkpoint, args.repo_id, private=args.private or None, revision=args.revision,
                            commit_message=args.commit_message, create_pr=args.create_pr)
        print(f"pushed adapter: {info.commit_url}")
        return 0
    chosen = dict(dataset_name=args.dataset_name, datasets=args.datasets, base_model=args.base_model,
                  license=args.license, max_shard_size=args.max_shard_size, remote_code=not args.no_remote_code)
    # only the options the user set: an already exported folder is pushed as it is and rejects card options
    card = {k: v for k, v in chosen.items() if v != CARD_DEFAULTS[k]}
    if args.export_only:
        out = convert_trainer_checkpoint(args.checkpoint, args.export_only, processor_path=args.processor_path,
                                         metrics=metrics, repo_id=args.repo_id, **chosen)
        print(f"exported: {out}")
        return 0
    info = push_checkpoint(args.checkpoint, args.repo_id, private=args.private or None, revision=args.revision,
                           commit_message=args.commit_message, create_pr=args.create_pr, metrics=metrics,
                           processor_path=args.processor_path, **card)
    print(f"pushed: {info.commit_url}")
    return 0

