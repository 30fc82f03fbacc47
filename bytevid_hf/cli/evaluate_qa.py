"""Evaluate a video-QA model: generate answers and score them offline.

Open-ended questions (no choices) are scored by exact match after normalisation (lowercase, no punctuation, no
articles, whitespace collapsed); multiple-choice questions by accuracy of the option letter read from the generated
text. Metrics are `evaluate` modules defined in code (bytevid_hf.training.qa_metrics): nothing is downloaded.

Long videos: --video_chunk_size N (default: the checkpoint's config.video_chunk_size) encodes each video N bytes at a
time with the encoder's state carried between chunks (the video tokens of one pass) and reads whole videos unless
--max_video_bytes is given.

Writes <output_dir>/predictions.jsonl (question, answer, prediction[, choices, video]) and metrics.json, and prints
the metrics.
"""

from __future__ import annotations

import json

from ..training.arguments import QAEvaluationArguments
from . import arguments
from .arguments import TrainerCommand, parse

EXAMPLES = """\
  bytevid evaluate-qa --model_name_or_path qa_out --eval_file qa_test.jsonl --output_dir qa_eval \\
      --batch_size 8 --max_new_tokens 16
  bytevid evaluate-qa --model_name_or_path qa_out --eval_file long_qa_test.jsonl --video_chunk_size 1048576 \
      --batch_size 1
"""

COMMAND = TrainerCommand(__doc__, EXAMPLES, (QAEvaluationArguments,), training_arguments=False)


def check(argv: list[str], prog: str = "bytevid evaluate-qa") -> None:
    """``--help`` and usage errors of the package's own options, without importing torch or transformers."""
    arguments.check(COMMAND, argv, prog)


def main(argv: list[str] | None = None, prog: str = "bytevid evaluate-qa") -> dict[str, float]:
    """Parse ``argv``, run :func:`~bytevid_hf.training.qa.run_qa_evaluation`, print and return the metrics."""
    (args,) = parse(COMMAND, argv, prog).values
    from ..training import qa

    metrics = qa.run_qa_evaluation(args)
    print(json.dumps(metrics, indent=2))
    return metrics
