"""Fine-tune the video-bytes encoder + Gemma LM for video question answering (paper Table 6) with transformers.Trainer.

Data: a CSV or JSON Lines manifest with columns video (path, absolute or relative to the manifest), question, answer
and optionally choices (a JSON list, or '|'-separated in CSV; empty = open-ended) -- --train_file / --eval_file, which
may also be a local dataset folder -- or a datasets dataset with those columns: --dataset_name (a Hub dataset id or a
load_dataset name; --dataset_config, --dataset_revision, --data_dir, --train_split, --eval_split), whose video column
may be a Video feature (read as the encoded file). Multiple-choice answers may be the letter, the index or the
option's text; the model is trained to answer with the letter.

Model: --model_name_or_path (a saved QA checkpoint), or --video_encoder (any bytevid checkpoint: its `bytevid.`
backbone is used) + --language_model (a Gemma / Gemma 2 / Gemma 3 causal-LM folder with its tokenizer; a <video>
token is added to the tokenizer when missing).

Training: everything by default at learning rate 1e-5; --freeze_lm trains only the video encoder, pooling and
projector; --lora_r R trains LoRA adapters (peft) on the LM's attention projections plus the video side, saves the
adapter to <output_dir>/lora_adapter and the merged model to <output_dir>.

Long videos: --video_chunk_size N reads each video N bytes at a time with the encoder's state carried between chunks
(the video tokens and gradients of one pass over the whole video; the encoder's activation memory is that of one
chunk, each chunk being activation-checkpointed) and no longer truncates videos unless --max_video_bytes is given.
--video_chunk_backprop truncated detaches the state between chunks (truncated BPTT) instead. The settings are saved in
the model's config, so evaluate-qa reads the videos the same way.
"""

from __future__ import annotations

from ..training.arguments import DEFAULT_QA_LEARNING_RATE, QADataArguments, QAModelArguments
from . import arguments
from .arguments import TrainerCommand, parse

EXAMPLES = """\
  bytevid finetune-qa --video_encoder pre/ --language_model gemma-3-1b-it/ --train_file qa_train.jsonl \\
      --eval_file qa_val.jsonl --output_dir qa_out --num_train_epochs 3 --per_device_train_batch_size 4 \\
      --max_video_bytes 262144 --eval_strategy epoch
  bytevid finetune-qa --model_name_or_path qa_out --train_file more.csv --lora_r 16 --output_dir qa_lora
  bytevid finetune-qa --model_name_or_path qa_out --train_file long_qa.jsonl --output_dir qa_long \
      --video_chunk_size 1048576 --per_device_train_batch_size 1 --num_train_epochs 1
  bytevid evaluate-qa --model_name_or_path qa_out --eval_file qa_test.jsonl --output_dir qa_eval
"""

COMMAND = TrainerCommand(__doc__, EXAMPLES, (QAModelArguments, QADataArguments),
                         defaults={"learning_rate": DEFAULT_QA_LEARNING_RATE})


def check(argv: list[str], prog: str = "bytevid finetune-qa") -> None:
    """``--help`` and usage errors of the package's own options, without importing torch or transformers."""
    arguments.check(COMMAND, argv, prog)


def main(argv: list[str] | None = None, prog: str = "bytevid finetune-qa"):
    """Parse ``argv`` and run :func:`~bytevid_hf.training.qa.run_qa_finetuning`; returns the TrainOutput."""
    model_args, data_args, training_args = parse(COMMAND, argv, prog).values
    from ..training import qa

    return qa.run_qa_finetuning(model_args, data_args, training_args)
