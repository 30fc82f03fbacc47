"""scripts/max_train_length.py's search: the linear memory fit and the choice of the next trial (no trials run)."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "max_train_length.py"


@pytest.fixture(scope="module")
def search():
    spec = importlib.util.spec_from_file_location("max_train_length", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _t(length, peak, ok=True, k=1, base=None):
    return {"ok": ok, "length": length, "peak_rss_mb": peak, "base_rss_mb": base, "subsequences": k}


def test_fit_is_linear_in_the_piece_length(search):
    base, slope = search._fit([_t(1000, 200), _t(3000, 400)], 1, None)  # 0.1 MB per byte, 100 MB base
    assert slope == pytest.approx(0.1) and base == pytest.approx(100)
    base2, slope2 = search._fit([_t(2000, 200, k=2), _t(6000, 400, k=2)], 2, None)  # per piece byte with K=2
    assert slope2 == pytest.approx(0.1) and base2 == pytest.approx(100)
    assert search._fit([_t(1000, 300, base=100)], 1, None) == pytest.approx((100, 0.2))
    assert search._fit([_t(1000, 300, ok=False)], 1, (5, 0.5)) == (5, 0.5)  # failures never fit


def test_next_length(search):
    # no trials: the probe, or the prediction of an earlier fit, rounded down to align · K
    assert search._next_length([], None, 1, 256, 1000, 5000, 0.05) == 4864
    assert search._next_length([], (100, 0.1), 2, 256, 1000, 5000, 0.05) == 2 * 8448  # (970 - 100) / 0.1 per piece
    # after a success: the predicted maximum; done once the best success is within the tolerance
    trials = [_t(1024, 200)]
    assert search._next_length(trials, (100, 0.1), 1, 256, 1000, 0, 0.05) == 8448
    assert search._next_length([_t(8448, 950)], (100, 0.1), 1, 256, 1000, 0, 0.05) is None
    # after a failure: 7% shorter, never beyond a failed length, and stop when that cannot beat the best success
    failed = [_t(1024, 200), _t(9984, 0, ok=False)]
    assert search._next_length(failed, (100, 0.1), 1, 256, 1000, 0, 0.05) == 9216
    assert search._next_length([_t(9216, 990), _t(9984, 0, ok=False)], (100, 0.1), 1, 256, 1000, 0, 0.0) is None
