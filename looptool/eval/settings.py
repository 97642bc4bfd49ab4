"""BFCL evaluation settings, kept apart from the evaluator so the run config can embed them
without importing the client layer (which imports the config: a cycle)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from looptool.eval.categories import CATEGORIES, resolve_categories

BFCL_MAX_STEPS = 20
PromptFormat = Literal["paper", "native"]


class BfclEvalSettings(BaseModel):
    """What to evaluate and how; defaults follow BFCL (greedy decoding, 20 steps per turn)."""

    model_config = ConfigDict(extra="forbid")

    categories: list[str] = Field(default_factory=lambda: list(CATEGORIES))
    limit: int | None = Field(None, ge=1, description="first N items of each category (smoke tests)")
    ids: list[str] | None = Field(None, description="only these item ids")
    format: PromptFormat = "paper"
    concurrency: int = Field(32, ge=1, le=4096)
    max_tokens: int | None = Field(None, ge=1, description="None: the server's limit (BFCL sends none; some items need long answers)")
    temperature: float = Field(0.0, ge=0.0)
    current_time: str = "Unknown"
    max_steps: int = Field(BFCL_MAX_STEPS, ge=1)
    python: str | None = Field(None, description="bfcl runtime interpreter; default: the 'bfcl' runtime env")
    cache_salt: str | None = Field(None, description="e.g. the checkpoint, so a retrained model never reuses cached answers")

    @field_validator("categories")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        return resolve_categories(value)
