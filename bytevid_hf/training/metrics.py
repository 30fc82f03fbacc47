"""Offline evaluation metrics as `evaluate` modules.

``evaluate.load("accuracy")`` fetches its script from the Hub and fails without a network. These classes are
``evaluate.Metric`` subclasses defined in code: instantiate them directly (``ByteVideoAccuracy().compute(...)``) or
through :func:`load_metric`. No download ever happens.

Multi-label classification (the paper's MLB-YouTube metric) is scored by mean average precision over classes:
:func:`average_precision` (one class), :func:`mean_average_precision` (all classes), the ``evaluate`` module
:class:`ByteVideoMeanAveragePrecision` (``load_metric("mean_average_precision")``) and, for ``Trainer``,
:func:`classification_metrics` with ``problem_type="multi_label_classification"`` (or 2-D multi-hot labels).
"""

from __future__ import annotations

import math

import datasets
import evaluate
import numpy as np


class ByteVideoAccuracy(evaluate.Metric):
    """Accuracy: the fraction of predictions equal to the references (single-label classification).

    With ``config_name="multilabel"`` predictions and references are 0/1 vectors and the score is the
    fraction of (video, label) pairs predicted correctly.
    """

    def _info(self):
        if self.config_name == "multilabel":
            features = datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("int32")),
                    "references": datasets.Sequence(datasets.Value("int32")),
                }
            )
        else:
            features = datasets.Features(
                {"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}
            )
        return evaluate.MetricInfo(
            description="Fraction of correct predictions.",
            citation="",
            inputs_description="predictions and references: class ids (or 0/1 vectors for 'multilabel').",
            features=features,
        )

    def _compute(self, predictions, references, normalize=True, sample_weight=None):
        predictions, references = np.asarray(predictions), np.asarray(references)
        if predictions.shape != references.shape:
            raise ValueError(f"predictions shape {predictions.shape} != references shape {references.shape}")
        correct = (predictions == references).astype(np.float64)
        if correct.ndim > 1:
            correct = correct.mean(axis=tuple(range(1, correct.ndim)))
        if sample_weight is not None:
            correct = correct * np.asarray(sample_weight, dtype=np.float64)
        total = float(correct.sum())
        if not normalize:
            return {"accuracy": total}
        denominator = float(np.sum(sample_weight)) if sample_weight is not None else len(correct)
        return {"accuracy": total / denominator if denominator else 0.0}


# ---------------------------------------------------------------------------------------------------------------------
# Average precision (multi-label classification)
# ---------------------------------------------------------------------------------------------------------------------
def _as_scores_and_labels(scores, labels, ndim: int, scores_name: str, labels_name: str):
    """Validated float64 scores and 0/1 int labels of the same shape, ``ndim``-D, non-empty, finite (no NaN)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    what = "(num_videos,)" if ndim == 1 else "(num_videos, num_classes)"
    if scores.ndim != ndim:
        raise ValueError(f"{scores_name} must be {ndim}-D {what}, got shape {scores.shape}")
    if labels.shape != scores.shape:
        raise ValueError(f"{labels_name} shape {labels.shape} != {scores_name} shape {scores.shape}")
    if scores.shape[0] == 0:
        raise ValueError(f"{scores_name} is empty: average precision needs at least one video")
    if np.isnan(scores).any():
        raise ValueError(f"{scores_name} contains NaN; average precision needs a ranking of every video")
    if labels.dtype == bool:
        labels = labels.astype(np.int64)
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"{labels_name} must be 0/1 (multi-hot), got values {np.unique(labels)[:10].tolist()}")
    return scores, labels.astype(np.int64)


def _average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """AP of one validated class; NaN when it has no positive."""
    num_positives = int(labels.sum())
    if num_positives == 0:
        return math.nan
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    # One threshold per distinct score: a tie group enters the ranking all at once (as in sklearn).
    last_of_group = np.r_[np.flatnonzero(np.diff(scores) != 0), len(scores) - 1]
    true_positives = np.cumsum(labels)[last_of_group]
    precision = true_positives / (last_of_group + 1)
    recall = true_positives / num_positives
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def average_precision(scores, labels) -> float:
    """Average precision of one class: ``sum_n (R_n - R_{n-1}) P_n`` over the thresholds of the ranking.

    The standard non-interpolated definition (sklearn's ``average_precision_score``): the videos are ranked by
    decreasing ``scores``, every distinct score is a threshold (tied videos enter the ranking together), and ``P_n``
    / ``R_n`` are the precision / recall of the videos scored at or above the n-th threshold (``R_0 = 0``). It depends
    only on the ranking, so logits and ``sigmoid(logits)`` give the same AP (up to ties that a saturated float
    sigmoid creates: rank logits).

    Args:
        scores: (num_videos,) real scores, higher = more likely positive (no NaN).
        labels: (num_videos,) 0/1 (or bool) ground truth.

    Returns:
        The AP in [0, 1], or NaN when ``labels`` has no positive (AP is undefined: no recall to reach).
    """
    return _average_precision(*_as_scores_and_labels(scores, labels, 1, "scores", "labels"))


def mean_average_precision(scores, labels, return_per_class: bool = False):
    """Mean over classes of :func:`average_precision`: the multi-label metric of MLB-YouTube (paper Table 5).

    Args:
        scores: (num_videos, num_classes) scores (logits or sigmoid probabilities; no NaN).
        labels: (num_videos, num_classes) multi-hot 0/1 ground truth.
        return_per_class: also return the (num_classes,) per-class APs (NaN for skipped classes).

    Classes with no positive video in ``labels`` have no AP and are **skipped** (left out of the mean, not counted
    as 0 or 1), the convention of the Charades/MLB-YouTube evaluation code; sklearn's ``average_precision_score``
    instead scores such a class 0 (with a warning). If no class has a positive the mean is NaN.

    Returns:
        ``mAP`` (a float), or ``(mAP, per_class)`` with ``return_per_class``.
    """
    scores, labels = _as_scores_and_labels(scores, labels, 2, "scores", "labels")
    per_class = np.array([_average_precision(scores[:, c], labels[:, c]) for c in range(scores.shape[1])])
    evaluated = per_class[~np.isnan(per_class)]
    mean = float(evaluated.mean()) if evaluated.size else math.nan
    return (mean, per_class) if return_per_class else mean


class ByteVideoMeanAveragePrecision(evaluate.Metric):
    """Mean average precision over classes for multi-label classification (see :func:`mean_average_precision`).

    ``predictions``: per-video score vectors (logits or probabilities), ``references``: multi-hot 0/1 vectors.
    Returns ``{"mean_average_precision": mAP, "num_classes_evaluated": classes with a positive}``; classes without a
    positive reference are skipped.
    """

    def _info(self):
        return evaluate.MetricInfo(
            description="Mean over classes of the (non-interpolated) average precision; classes without positives "
            "are skipped.",
            citation="",
            inputs_description="predictions: per-video score vectors; references: multi-hot 0/1 vectors.",
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float64")),
                    "references": datasets.Sequence(datasets.Value("int32")),
                }
            ),
        )

    def _compute(self, predictions, references):
        scores, labels = _as_scores_and_labels(predictions, references, 2, "predictions", "references")
        mean, per_class = mean_average_precision(scores, labels, return_per_class=True)
        return {"mean_average_precision": mean, "num_classes_evaluated": int((~np.isnan(per_class)).sum())}


_METRICS = {"accuracy": ByteVideoAccuracy, "mean_average_precision": ByteVideoMeanAveragePrecision}


def load_metric(name: str = "accuracy", config_name: str | None = None) -> evaluate.EvaluationModule:
    """Offline replacement for ``evaluate.load(name)`` for the metrics this package ships."""
    if name not in _METRICS:
        raise ValueError(f"Unknown metric {name!r}; offline metrics available: {sorted(_METRICS)}")
    return _METRICS[name](config_name=config_name)


def classification_metrics(problem_type: str | None = None):
    """A ``compute_metrics`` callable for ``transformers.Trainer`` (works offline).

    single-label: accuracy of the arg-max; regression: MSE; multi-label (``problem_type="multi_label_classification"``
    or 2-D labels of the logits' shape, multi-hot 0/1): per-label accuracy of ``logit > 0`` (``accuracy``) and
    :func:`mean_average_precision` of the logits (``mean_average_precision``, ranked on the logits, which
    ``sigmoid`` would not change except for ties it creates when it saturates; classes without a positive in the
    evaluation set are skipped, NaN if none has one).
    """

    def compute_metrics(eval_pred) -> dict[str, float]:
        logits, labels = eval_pred.predictions, eval_pred.label_ids
        if isinstance(logits, tuple):
            logits = logits[0]
        logits, labels = np.asarray(logits), np.asarray(labels)
        if problem_type == "regression":
            return {"mse": float(np.mean((logits.reshape(labels.shape) - labels) ** 2))}
        if problem_type == "multi_label_classification" or (labels.ndim == 2 and labels.shape == logits.shape):
            scores, hot = _as_scores_and_labels(logits, labels, 2, "predictions (logits)", "label_ids")
            metrics = load_metric("accuracy", "multilabel").compute(
                predictions=(scores > 0).astype(int).tolist(), references=hot.tolist()
            )
            metrics["mean_average_precision"] = mean_average_precision(scores, hot)
            return metrics
        return load_metric("accuracy").compute(predictions=logits.argmax(-1), references=labels)

    return compute_metrics


__all__ = [
    "ByteVideoAccuracy",
    "ByteVideoMeanAveragePrecision",
    "average_precision",
    "classification_metrics",
    "load_metric",
    "mean_average_precision",
]
