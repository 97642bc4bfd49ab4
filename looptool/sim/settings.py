"""Simulator settings: per-model behaviour profiles and fault injection plans."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FaultKind = Literal["400", "500", "502", "503", "429", "timeout", "drop", "truncate"]
FAULT_KINDS: tuple[str, ...] = ("400", "500", "502", "503", "429", "timeout", "drop", "truncate")


class ModelProfile(BaseModel):
    """How one served model name errs. Rates are probabilities per answer, drawn deterministically."""

    model_config = ConfigDict(extra="forbid")

    wrong_call_rate: float = Field(0.0, ge=0, le=1)
    malformed_rate: float = Field(0.0, ge=0, le=1)
    judge_error_rate: float = Field(0.0, ge=0, le=1)
    reject_rate: float = Field(0.0, ge=0, le=1, description="verification verdicts that fail a correct step")
    contradiction_rate: float = Field(
        0.0, ge=0, le=1, description='judge answers that contradict themselves ({"verdict": "pass", "reason": "fail"})'
    )


class FaultPlan(BaseModel):
    """Which requests fail and how.

    `rates` draws a fault per request at random (seeded); `first_attempts` fails the first N
    attempts of every distinct request body, so retry tests are exact rather than statistical.
    """

    model_config = ConfigDict(extra="forbid")

    rates: dict[FaultKind, float] = Field(default_factory=dict)
    first_attempts: dict[FaultKind, int] = Field(default_factory=dict)
    retry_after_s: float = Field(1.0, ge=0)
    hang_s: float = Field(30.0, ge=0)


class SimSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    latency_ms: float = Field(0.0, ge=0)
    latency_jitter_ms: float = Field(0.0, ge=0)
    models: dict[str, ModelProfile] = Field(default_factory=dict)
    default_profile: ModelProfile = Field(default_factory=ModelProfile)
    faults: FaultPlan = Field(default_factory=FaultPlan)
    oracle_path: str | None = Field(None, description="JSONL table of known answers (looptool.sim.oracle)")

    def profile(self, model: str) -> ModelProfile:
        return self.models.get(model, self.default_profile)
