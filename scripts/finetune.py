#!/usr/bin/env python
"""Fine-tune a bytevid video classifier with transformers.Trainer.

Data: a folder of class subfolders of videos (--data_dir) or a datasets dataset saved with save_to_disk that has a
binary bytes column and a label column (--dataset_path). The output dir holds model + processor and loads straight
into ``pipeline("video-classification", model=output_dir)``.

Example:
    python scripts/finetune.py --data_dir videos/ --preset bytes-micro --output_dir out \
        --num_train_epochs 5 --per_device_train_batch_size 8 --learning_rate 1e-3
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
