"""Fine-tune a bytevid video classifier with transformers.Trainer.

Data (one of):
  --data_dir DIR        a folder of class subfolders of videos (rows are paths, read anew every run);
  --dataset_path PATH   a local dataset: save_to_disk, a `bytevid prepare-data` output (Parquet + card), or a folder
                        datasets.load_dataset reads;
  --dataset_name NAME   a datasets.load_dataset name: a Hub dataset id (--dataset_config, --dataset_revision,
                        --train_split, --eval_split), or a builder such as videofolder with --data_dir.
The video column (--video_column) may be a datasets Video feature (read as the encoded file, never decoded), bytes
or paths; the label column (--label_column) a ClassLabel or ints.

The output dir holds model, processor, their code and the package's model card, and loads straight into
pipeline("video-classification", model=output_dir); --push_to_hub --hub_model_id user/name pushes it at the end (no
pickle files), and pipeline(model="user/name") then loads it (trust_remote_code=True where bytevid_hf is not
installed).
"""

from __future__ import annotations

from ..training.arguments import DataArguments, ModelArguments
from . import arguments
from .arguments import TrainerCommand, parse

EXAMPLES = """\
  bytevid finetune --data_dir videos/ --preset bytes-micro --output_dir out \\
      --num_train_epochs 5 --per_device_train_batch_size 8 --learning_rate 1e-3
  bytevid finetune --dataset_name user/videos --preset bytes-tiny --pooling attention --output_dir out \\
      --push_to_hub --hub_model_id user/bytevid-videos
  bytevid finetune run.yaml --learning_rate 5e-4     # options from run.yaml, one overridden
"""

COMMAND = TrainerCommand(__doc__, EXAMPLES, (ModelArguments, DataArguments))


def check(argv: list[str], prog: str = "bytevid finetune") -> None:
    """``--help`` and usage errors of the package's own options, without importing torch or transformers."""
    arguments.check(COMMAND, argv, prog)


def main(argv: list[str] | None = None, prog: str = "bytevid finetune") -> dict[str, float]:
    """Parse ``argv`` and run :func:`~bytevid_hf.training.finetune.run_finetuning`; returns its final metrics."""
    model_args, data_args, training_args = parse(COMMAND, argv, prog).values
    from ..training.finetune import run_finetuning

    return run_finetuning(model_args, data_args, training_args)
