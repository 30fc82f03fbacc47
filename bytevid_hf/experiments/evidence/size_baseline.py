"""The models that cannot see the content: file size only, and chance.

``size``: :class:`bytevid_hf.experiments.baselines.SizeOnlyClassifier` — training sizes cut into equal-count bins,
each bin predicting its majority label, the number of bins chosen by cross-validation on the training set. Quantile
bins make it invariant to any monotone transform of the size (bytes, log bytes, bits per second), and it can use any
monotone or non-monotone size-label relation the training set shows, so it is at least as strong as a threshold or a
logistic regression on size and log size. Fit on the training split, scored on the held-out split.

``chance``: always the majority training class (:func:`bytevid_hf.experiments.baselines.chance_accuracy`); on the
balanced splits of every task this is ``1 / num_classes``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["size_only", "chance"]


def size_only(train_rows: list, eval_rows: list) -> dict[str, Any]:
    """Held-out accuracy of the size-only classifier fit on ``train_rows``, and what it read (one number a clip)."""
    from ..baselines import SizeOnlyClassifier

    clf = SizeOnlyClassifier().fit([len(r["video"]) for r in train_rows], [r["label"] for r in train_rows])
    return {"accuracy": clf.score([len(r["video"]) for r in eval_rows], [r["label"] for r in eval_rows]),
            "num_bins": int(clf.num_bins_), "cpu_seconds": 0.0, "input_per_clip": 1.0,
            "input_unit": "file size (one number)"}


def chance(train_rows: list, eval_rows: list) -> dict[str, Any]:
    from ..baselines import chance_accuracy

    return {"accuracy": chance_accuracy([r["label"] for r in train_rows], [r["label"] for r in eval_rows]),
            "cpu_seconds": 0.0, "input_per_clip": 0.0, "input_unit": "nothing"}
