"""The experiment's arithmetic: JGLV precision/recall against the injected noise, seed statistics."""

from __future__ import annotations

import math
from typing import Any

FLAGGED = ("LABEL_WRONG", "BOTH_WRONG")


def jglv_scores(verdicts: list[dict[str, Any]]) -> dict[str, Any]:
    """Precision and recall of "this label is wrong" over the samples the judge was shown.

    A label counts as flagged when the verdict is LABEL_WRONG (fixed) or BOTH_WRONG (discarded);
    `corrupted` means the label differs from the world's truth. Recall is over the corrupted labels
    the judge was shown (a corrupted label the policy reproduces is never shown: reported apart)."""
    shown = len(verdicts)
    corrupted = sum(1 for v in verdicts if not v["label_right"])
    flagged = sum(1 for v in verdicts if v["verdict"] in FLAGGED)
    hits = sum(1 for v in verdicts if v["verdict"] in FLAGGED and not v["label_right"])
    fixed_right = sum(1 for v in verdicts if v["verdict"] == "LABEL_WRONG" and v["prediction_right"])
    return {
        "shown": shown,
        "corrupted_shown": corrupted,
        "flagged": flagged,
        "true_flags": hits,
        "precision": hits / flagged if flagged else None,
        "recall": hits / corrupted if corrupted else None,
        "label_fixes_right": fixed_right,
        "label_fixes": sum(1 for v in verdicts if v["verdict"] == "LABEL_WRONG"),
    }


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def pooled(records: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Sum the counts of several jglv_scores records and recompute the ratios."""
    keys = ("shown", "corrupted_shown", "flagged", "true_flags", "label_fixes_right", "label_fixes")
    total = {k: sum(r[key][k] for r in records if r.get(key)) for k in keys}
    total["precision"] = total["true_flags"] / total["flagged"] if total["flagged"] else None
    total["recall"] = total["true_flags"] / total["corrupted_shown"] if total["corrupted_shown"] else None
    return total
