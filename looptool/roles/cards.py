"""Role cards: data that says how a role talks, kept out of code so users can tune prompts.

agents/<role>.toml holds one or more tasks (the judge verifies steps *and* judges labels):
    role = "judge"
    [tasks.verify_step]
    prompt = "judge_verify_step.md"     # file in prompts/
    output = "json_schema"              # json_schema | choice | tool_calls | text
    schema_name = "step_verdict"        # looptool.roles.schemas
    [tasks.verify_step.sampling]
    temperature = 0.0
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SamplingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(0.0, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int = Field(512, gt=0)
    n: int = Field(1, ge=1)


class TaskCard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str
    output: Literal["json_schema", "choice", "tool_calls", "text"]
    schema_name: str | None = None
    choices: list[str] = Field(default_factory=list)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)


class RoleCard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str
    description: str = ""
    tasks: dict[str, TaskCard]
