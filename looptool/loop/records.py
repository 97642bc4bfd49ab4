"""The records the loop's stages write and read, declared once (one unit = one JSONL line).

GCP writes a `ProbeResult` per sample of D_i, JGLV a `JudgeVerdict` per mismatched sample, EDDE
an `Expansion` per error seed. Each stage checks its record against the model before it is
written (`checked`), so a record with a missing or mistyped field stops at the stage that made it,
with the field named, instead of surfacing as a KeyError two stages later. Readers still receive
the stored JSON objects (dicts); the models say what is in them. `id` is the unit id, which
`units.run_units` adds when it writes the record.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict

Verdict = Literal["LABEL_WRONG", "BOTH_WRONG", "BOTH_CORRECT", "PRED_WRONG"]
# What the judge answers in one A/B order (the prompt's vocabulary, before label/prediction are known).
OrderVerdict = Literal["A_CORRECT_B_WRONG", "B_CORRECT_A_WRONG", "BOTH_CORRECT", "BOTH_WRONG"]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = None

    @classmethod
    def checked(cls, record: dict[str, Any]) -> dict[str, Any]:
        """`record` unchanged once it passes the model (raises pydantic.ValidationError, a bug)."""
        cls.model_validate(record)
        return record

    @classmethod
    def read(cls, record: dict[str, Any]) -> Self:
        return cls.model_validate(record)


class ProbeResult(Record):
    """GCP: the policy's answer to one sample of D_i and whether ToolMatch accepts it."""

    endpoint: str | None
    model: str | None
    prediction: str
    pred_calls: list[dict[str, Any]]
    format_ok: bool
    matched: bool
    reasons: list[str]
    ppl: float | None
    tokens: int | None
    finish_reason: str | None


class JudgeOrder(Record):
    """One judge call in one A/B order (or why it gave no usable answer)."""

    label_first: bool
    verdict: OrderVerdict | None = None
    label_ok: bool | None = None
    pred_ok: bool | None = None
    analysis: str | None = None
    error: str | None = None


class JudgeVerdict(Record):
    """JGLV: the combined verdict on one mismatched sample, with the guard's decision on a fix."""

    verdict: Verdict
    orders: list[JudgeOrder]
    analysis: str
    guard: dict[str, Any] | None = None
    ablation: str | None = None


class Rejection(Record):
    """A generated sample EDDE did not keep, and why (`sample` is absent when nothing usable came back)."""

    reason: str
    reasons: list[str] = []
    findings: list[dict[str, str]] = []
    sample: dict[str, Any] | None = None


class Expansion(Record):
    """EDDE: what one error seed grew into. `verified` holds StepSample JSON objects."""

    verified: list[dict[str, Any]]
    rejected: list[Rejection]
    scenarios: list[str] = []
    ablation: str | None = None
