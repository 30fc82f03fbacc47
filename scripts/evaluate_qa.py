#!/usr/bin/env python
"""Evaluate a video-QA model: generate answers and score them offline.

Open-ended questions (no choices) are scored by exact match after normalisation (lowercase, no punctuation, no
articles, whitespace collapsed); multiple-choice questions by accuracy of the option letter read from the generated
text. Metrics are `evaluate` modules defined in code (bytevid_hf.training.qa_metrics): nothing is downloaded.

Example:
    python scripts/evaluate_qa.py --model_name_or_path qa_out --eval_file qa_test.jsonl --output_dir qa_eval \
        --batch_size 8 --max_new_tokens 16

Writes <output_dir>/predictions.jsonl (question, answer, prediction[, choices, video]) and metrics.json, and prints
the metrics.
"""

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: no spinning threads on a shared machine

from bytevid_hf.training.qa import evaluate_main  # noqa: E402

if __name__ == "__main__":
    evaluate_main(sys.argv[1:])
