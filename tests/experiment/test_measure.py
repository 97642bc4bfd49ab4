"""JGLV precision/recall and seed statistics."""

from __future__ import annotations

import math

import pytest

from looptool.experiment.measure import jglv_scores, mean_std, pooled


def _v(verdict, label_right, prediction_right=True):
    return {"verdict": verdict, "label_right": label_right, "prediction_right": prediction_right}


def test_jglv_precision_recall_counts():
    verdicts = [
        _v("LABEL_WRONG", False),  # hit, fixed right
        _v("BOTH_WRONG", False, False),  # hit (discarded)
        _v("PRED_WRONG", False),  # corrupted, missed
        _v("LABEL_WRONG", True, False),  # false flag
        _v("PRED_WRONG", True, False),  # right call
    ]
    s = jglv_scores(verdicts)
    assert (s["shown"], s["corrupted_shown"], s["flagged"], s["true_flags"]) == (5, 3, 3, 2)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["recall"] == pytest.approx(2 / 3)
    assert (s["label_fixes"], s["label_fixes_right"]) == (2, 1)


def test_jglv_nothing_flagged_or_corrupted_is_none_not_zero():
    s = jglv_scores([_v("PRED_WRONG", True, False)])
    assert s["precision"] is None and s["recall"] is None


def test_pooled_recomputes_ratios_from_counts():
    a = {"j": jglv_scores([_v("LABEL_WRONG", False)])}
    b = {"j": jglv_scores([_v("PRED_WRONG", False), _v("PRED_WRONG", False), _v("LABEL_WRONG", True)])}
    total = pooled([a, b], "j")
    assert total["recall"] == pytest.approx(1 / 3)  # not the mean of 1.0 and 0.0
    assert total["precision"] == pytest.approx(1 / 2)


def test_mean_std_sample_std():
    assert mean_std([0.2, 0.4]) == pytest.approx((0.3, math.sqrt(0.02)))
    assert mean_std([0.5]) == (0.5, 0.0)
