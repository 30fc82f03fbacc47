#!/usr/bin/env python
"""Fine-tune a bytevid video classifier with transformers.Trainer.

Data (one of):
    --data_dir DIR          a folder of class subfolders of videos (rows are paths, read anew every run);
    --dataset_path PATH     a local dataset: save_to_disk, a scripts/prepare_data.py output (Parquet + card), or a
                            folder datasets.load_dataset reads;
    --dataset_name NAME     a datasets.load_dataset name: a Hub dataset id (--dataset_config, --dataset_revision,
                            --train_split, --eval_split), or a builder such as videofolder with --data_dir.
The video column (--video_column) may be a datasets Video feature (read as the encoded file, never decoded), bytes
or paths; the label column (--label_column) a ClassLabel or ints.

The output dir holds model, processor, their code and the package's model card, and loads straight into
``pipeline("video-classification", model=output_dir)``; ``--push_to_hub --hub_model_id user/name`` pushes it at the
end (no pickle files), and ``pipeline(model="user/name")`` then loads it (``trust_remote_code=True`` where bytevid_hf
is not installed).

Examples:
    python scripts/finetune.py --data_dir videos/ --preset bytes-micro --output_dir out \
        --num_train_epochs 5 --per_device_train_batch_size 8 --learning_rate 1e-3
    python scripts/finetune.py --dataset_name user/videos --preset bytes-tiny --output_dir out \
        --push_to_hub --hub_model_id user/bytevid-videos
"""

import os
import sys

# Must precede the first `import torch`: with OpenMP's default (spinning) wait policy, idle threads burn the cores at
# every barrier and this many-small-ops workload slows down dramatically whenever another process shares the CPU.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from transformers import HfArgumentParser, TrainingArguments

from bytevid_hf.training.finetune import DataArguments, ModelArguments, run_finetuning


def main(argv=None):
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    return run_finetuning(model_args, data_args, training_args)


if __name__ == "__main__":
    main(sys.argv[1:])
