"""Pre-training of a bytevid backbone with transformers.Trainer (paper Tables 10 and 11).

Objectives (--objective):
  next-byte            BytesVideoForCausalLM: predict byte t+1 from bytes <= t (windows of --max_length bytes)
  rgb                  BytesVideoForRGBReconstruction: reconstruct 10 frames at 128x128 decoded from the same clip
  jpeg-classification  BytesVideoForClassification on labelled images, each read as its JPEG bytes (--jpeg_quality,
                       --jpeg_size, saved in the processor; --image_column, --label_column; evaluated on --eval_split,
                       default validation or test when present)

Data: --data_dir (a folder of videos, searched recursively; jpeg-classification: an imagefolder, class subfolders of
images, optionally under train/ and test/), --dataset_path (save_to_disk, a `bytevid prepare-data` output or a folder
load_dataset reads) or --dataset_name (a Hub dataset id, or videofolder / imagefolder with --data_dir;
--dataset_config, --train_split). The output holds model, processor, code and model card; --push_to_hub pushes it at
the end.

The learning rate defaults to the paper's pre-training rate for the preset (appendix A.2: 9e-5 / 7e-5 / 5e-5 for
bytes-tiny / -base / -large, 1e-3 for bytes-micro) unless --learning_rate is given (on the command line or in the
config file). Fine-tune the result with `bytevid finetune --model_name_or_path <output_dir>`: the backbone is kept,
the classification head is new (also after jpeg-classification, whose image labels are not the videos'), and the
videos are read as their encoded bytes (a jpeg-classification checkpoint's JPEG processor is not used).
"""

from __future__ import annotations

from ..training.arguments import PretrainingArguments
from . import arguments
from .arguments import TrainerCommand, parse

EXAMPLES = """\
  bytevid pretrain --objective next-byte --data_dir videos/ --preset bytes-tiny --output_dir pre \\
      --num_train_epochs 1 --per_device_train_batch_size 4 --max_length 65536
  bytevid pretrain --objective rgb --dataset_path prepared/ --output_dir pre_rgb --max_steps 1000
  bytevid pretrain --objective next-byte --dataset_name user/videos --output_dir pre --push_to_hub \\
      --hub_model_id user/bytevid-pretrained
  bytevid pretrain --objective jpeg-classification --data_dir images/ --jpeg_size 224 --output_dir pre_jpeg
  bytevid finetune --model_name_or_path pre_jpeg --data_dir videos/ --output_dir out
"""

COMMAND = TrainerCommand(__doc__, EXAMPLES, (PretrainingArguments,))


def check(argv: list[str], prog: str = "bytevid pretrain") -> None:
    """``--help`` and usage errors of the package's own options, without importing torch or transformers."""
    arguments.check(COMMAND, argv, prog)


def main(argv: list[str] | None = None, prog: str = "bytevid pretrain"):
    """Parse ``argv`` and run :func:`~bytevid_hf.training.pretraining.run_pretraining`; returns the TrainOutput."""
    parsed = parse(COMMAND, argv, prog)
    args, training_args = parsed.values
    from ..training.pretraining import run_pretraining

    return run_pretraining(args, training_args, learning_rate_given="learning_rate" in parsed.given)
