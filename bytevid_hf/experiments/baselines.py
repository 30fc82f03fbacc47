"""Reference baselines a byte-level video classifier has to beat.

* :func:`chance_accuracy` - always predict the majority class of the training labels.
* :class:`SizeOnlyClassifier` - a classifier that sees nothing but the file size (bytes).

The size-only baseline is a 1-D histogram classifier: the training sizes are cut into
``B`` equal-count (quantile) bins and each bin predicts its majority training label. The
number of bins is chosen by (random, unstratified) K-fold cross-validation on the training
set among ``1, 2, 3, 4, 6, 8, 12, 16, 24, 32, ...`` (``B = 1`` is the majority-class predictor,
so the baseline never does worse than chance on its own folds). Quantile bins make it
invariant to any monotone transform of the size (bytes, log-bytes, bits per second of a
fixed-duration clip ...), and because ``B`` is tuned it can exploit any monotone or
non-monotone size-label relation that the training set supports - a fair, strong 1-D
baseline.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["SizeOnlyClassifier", "chance_accuracy", "file_sizes"]


def _majority(labels: np.ndarray, classes: np.ndarray) -> Any:
    """Most frequent label; ties go to the smallest label (first in ``classes``)."""
    counts = np.array([(labels == c).sum() for c in classes])
    return classes[int(np.argmax(counts))]


def chance_accuracy(train_labels: Sequence[Any], test_labels: Sequence[Any]) -> float:
    """Accuracy on ``test_labels`` of always predicting the majority training class
    (ties: the smallest label)."""
    train = np.asarray(list(train_labels))
    test = np.asarray(list(test_labels))
    if train.size == 0 or test.size == 0:
        raise ValueError("need non-empty train and test labels")
    majority = _majority(train, np.unique(train))
    return float(np.mean(test == majority))


def file_sizes(videos: Iterable[Any]) -> np.ndarray:
    """Sizes in bytes of videos given as ``bytes``/``bytearray``/``memoryview``, numpy
    uint8 arrays / tensors (anything with ``.numel()`` or ``.size``), dicts with a
    ``"video"`` entry, or file paths."""
    out = []
    for v in videos:
        if isinstance(v, dict):
            v = v["video"]
        if isinstance(v, (bytes, bytearray)):
            out.append(len(v))
        elif isinstance(v, memoryview):
            out.append(v.nbytes)
        elif isinstance(v, (str, os.PathLike)):
            out.append(os.path.getsize(v))
        elif hasattr(v, "numel"):
            out.append(int(v.numel()))
        elif hasattr(v, "size") and not callable(v.size):
            out.append(int(v.size))
        else:
            raise TypeError(f"cannot take the size of {type(v).__name__}")
    return np.asarray(out, dtype=np.int64)


class SizeOnlyClassifier:
    """Classify a video from its file size alone (quantile-binned majority vote).

    Args:
        num_bins: fixed number of quantile bins, or ``None`` (default) to choose it by
            ``cv_folds``-fold cross-validation on the training set.
        candidate_bins: bin counts tried when ``num_bins`` is ``None``; counts that would
            leave fewer than ``min_per_bin`` training samples per bin are skipped.
        cv_folds: folds of the cross-validation.
        min_per_bin: minimum expected number of training samples per bin.
        random_state: seed of the fold assignment.

    After :meth:`fit`: ``num_bins_`` (chosen count), ``edges_`` (interior bin edges),
    ``bin_labels_`` (prediction per bin), ``classes_``, ``cv_scores_`` (bins -> CV accuracy).
    """

    def __init__(
        self,
        num_bins: int | None = None,
        candidate_bins: Sequence[int] = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128),
        cv_folds: int = 5,
        min_per_bin: int = 5,
        random_state: int = 0,
    ) -> None:
        self.num_bins = num_bins
        self.candidate_bins = tuple(candidate_bins)
        self.cv_folds = cv_folds
        self.min_per_bin = min_per_bin
        self.random_state = random_state

    # ----------------------------------------------------------------- internals
    @staticmethod
    def _as_sizes(sizes: Any) -> np.ndarray:
        arr = np.asarray(sizes)
        if arr.dtype == object or arr.ndim != 1:
            arr = file_sizes(sizes)
        return arr.astype(np.float64).reshape(-1)

    @staticmethod
    def _fit_bins(x: np.ndarray, y: np.ndarray, bins: int, classes: np.ndarray):
        qs = np.linspace(0.0, 1.0, bins + 1)[1:-1]
        edges = np.unique(np.quantile(x, qs)) if bins > 1 else np.empty(0)
        idx = np.searchsorted(edges, x, side="right")
        fallback = _majority(y, classes)
        bin_labels = np.empty(len(edges) + 1, dtype=y.dtype)
        for b in range(len(edges) + 1):
            members = y[idx == b]
            bin_labels[b] = _majority(members, classes) if members.size else fallback
        return edges, bin_labels

    @staticmethod
    def _predict_bins(x: np.ndarray, edges: np.ndarray, bin_labels: np.ndarray) -> np.ndarray:
        return bin_labels[np.searchsorted(edges, x, side="right")]

    # ----------------------------------------------------------------- API
    def fit(self, sizes: Any, labels: Sequence[Any]) -> "SizeOnlyClassifier":
        x = self._as_sizes(sizes)
        y = np.asarray(list(labels))
        if x.shape[0] != y.shape[0] or x.size == 0:
            raise ValueError("sizes and labels must be non-empty and of equal length")
        self.classes_ = np.unique(y)
        self.cv_scores_: dict[int, float] = {}
        if self.num_bins is not None:
            bins = int(self.num_bins)
        else:
            folds = max(2, min(self.cv_folds, x.size))
            rng = np.random.default_rng(self.random_state)
            fold_of = rng.permutation(np.arange(x.size) % folds)
            train_size = x.size * (folds - 1) / folds
            best, bins = -1.0, 1
            for b in self.candidate_bins:
                if b > 1 and train_size / b < self.min_per_bin:
                    continue
                correct = 0
                for f in range(folds):
                    tr, te = fold_of != f, fold_of == f
                    edges, bl = self._fit_bins(x[tr], y[tr], b, self.classes_)
                    correct += int((self._predict_bins(x[te], edges, bl) == y[te]).sum())
                acc = correct / x.size
                self.cv_scores_[b] = acc
                if acc > best + 1e-12:  # ties keep the simpler (fewer bins) model
                    best, bins = acc, b
        self.num_bins_ = bins
        self.edges_, self.bin_labels_ = self._fit_bins(x, y, bins, self.classes_)
        return self

    def predict(self, sizes: Any) -> np.ndarray:
        if not hasattr(self, "edges_"):
            raise RuntimeError("call fit() first")
        return self._predict_bins(self._as_sizes(sizes), self.edges_, self.bin_labels_)

    def score(self, sizes: Any, labels: Sequence[Any]) -> float:
        y = np.asarray(list(labels))
        return float(np.mean(self.predict(sizes) == y))

    def __repr__(self) -> str:
        fitted = f", num_bins_={self.num_bins_}" if hasattr(self, "num_bins_") else ""
        return f"SizeOnlyClassifier(num_bins={self.num_bins}{fitted})"
