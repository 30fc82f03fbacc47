"""Offline evaluation metrics as `evaluate` modules.

``evaluate.load("accuracy")`` fetches its script from the Hub and fails without a network. These classes are
``evaluate.Metric`` subclasses defined in code: instantiate them directly (``ByteVideoAccuracy().compute(...)``) or
through :func:`load_metric`. No download ever happens.
"""

from __future__ import annotations

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


_METRICS = {"accuracy": ByteVideoAccuracy}


def load_metric(name: str = "accuracy", config_name: str | None = None) -> evaluate.EvaluationModule:
    """Offline replacement for ``evaluate.load(name)`` for the metrics this package ships."""
    if name not in _METRICS:
        raise ValueError(f"Unknown metric {name!r}; offline metrics available: {sorted(_METRICS)}")
    return _METRICS[name](config_name=config_name)


def classification_metrics(problem_type: str | None = None):
    """A ``compute_metrics`` callable for ``transformers.Trainer`` (works offline).

    single-label: accuracy of the arg-max; multi-label: per-label accuracy of ``logit > 0``; regression: MSE.
    """

    def compute_metrics(eval_pred) -> dict[str, float]:
        logits, labels = eval_pred.predictions, eval_pred.label_ids
        if isinstance(logits, tuple):
            logits = logits[0]
        logits, labels = np.asarray(logits), np.asarray(labels)
        if problem_type == "regression":
            return {"mse": float(np.mean((logits.reshape(labels.shape) - labels) ** 2))}
        if problem_type == "multi_label_classification" or (labels.ndim == 2 and labels.shape == logits.shape):
            return load_metric("accuracy", "multilabel").compute(
                predictions=(logits > 0).astype(int).tolist(), references=labels.astype(int).tolist()
            )
        return load_metric("accuracy").compute(predictions=logits.argmax(-1), references=labels)

    return compute_metrics


__all__ = ["ByteVideoAccuracy", "load_metric", "classification_metrics"]
