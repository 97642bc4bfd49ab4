"""The loop's records are declared once (looptool/loop/records.py) and checked before they are written."""

from __future__ import annotations

import pydantic
import pytest

from looptool.loop.records import Expansion, JudgeVerdict, ProbeResult

PROBE = {
    "endpoint": "e",
    "model": "m",
    "prediction": "hi",
    "pred_calls": [],
    "format_ok": True,
    "matched": False,
    "reasons": ["no_call: x"],
    "ppl": 1.5,
    "tokens": 3,
    "finish_reason": "stop",
}


def test_a_complete_record_passes_unchanged_and_reads_back_typed() -> None:
    assert ProbeResult.checked(PROBE) is PROBE
    assert ProbeResult.read({**PROBE, "id": "s1"}).matched is False


@pytest.mark.parametrize(
    ("model", "record", "field"),
    [
        (ProbeResult, {k: v for k, v in PROBE.items() if k != "matched"}, "matched"),
        (ProbeResult, {**PROBE, "matched": "maybe"}, "matched"),
        (ProbeResult, {**PROBE, "surprise": 1}, "surprise"),
        (JudgeVerdict, {"verdict": "LABEL_IS_WRONG", "orders": [], "analysis": ""}, "verdict"),
        (
            JudgeVerdict,
            {"verdict": "PRED_WRONG", "orders": [{"label_first": True, "verdict": "PRED_WRONG"}], "analysis": ""},
            "orders.0.verdict",
        ),
        (Expansion, {"accepted": [], "rejected": []}, "verified"),
    ],
)
def test_a_malformed_record_is_refused_naming_the_field(model: type, record: dict, field: str) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        model.checked(record)
    assert field in str(info.value)


def test_every_expansion_path_uses_the_same_keys() -> None:
    """expand_seed's three outcomes (generator gave nothing usable, samples verified or rejected,
    the D_EE ablation) are one record type."""
    Expansion.checked({"verified": [], "rejected": [{"reason": "output_invalid_json"}], "scenarios": ["s"]})
    Expansion.checked(
        {"verified": [{"id": "x"}], "rejected": [{"reason": "r", "reasons": ["r"], "findings": [], "sample": {}}], "scenarios": ["s"]}
    )
    Expansion.checked({"verified": [], "rejected": [], "ablation": "without_edde"})
