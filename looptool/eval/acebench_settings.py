"""ACEBench evaluation settings, apart from the evaluator so the run config can embed them
without importing the client layer (which imports the config: a cycle)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from looptool.eval.acebench_categories import CATEGORIES, resolve_categories

AceFormat = Literal["acebench", "native"]


class AceBenchEvalSettings(BaseModel):
    """What to evaluate and how; defaults follow ACEBench (English, greedy, 40 dialog messages)."""

    model_config = ConfigDict(extra="forbid")

    categories: list[str] = Field(default_factory=lambda: list(CATEGORIES))
    language: Literal["en", "zh"] = "en"
    limit: int | None = Field(None, ge=1, description="first N items (dialogs, for the normal multi-turn categories) of each category")
    ids: list[str] | None = Field(None, description="only these item ids")
    format: AceFormat = "acebench"
    concurrency: int = Field(32, ge=1, le=4096)
    max_tokens: int | None = Field(None, ge=1, description="None: the server's limit")
    temperature: float = Field(0.0, ge=0.0)
    max_dialog_messages: int = Field(40, ge=2, description="agent dialogs: messages per dialog (ACEBench's --max-dialog-turns)")
    user_role: str = Field("user", description="the engine role that plays ACEBench's simulated user (agent_multi_turn)")
    data_dir: str | None = Field(None, description="another copy of ACEBench's data_all/ (default: the copy shipped with looptool)")
    cache_salt: str | None = Field(None, description="e.g. the checkpoint, so a retrained model never reuses cached answers")

    @field_validator("categories")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        return resolve_categories(value)
