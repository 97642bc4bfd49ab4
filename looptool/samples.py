"""The training-sample record every stage reads and writes.

One record is one assistant tool-call step (paper §3: (T, c_t, a_t*)): the tools offered, the
conversation up to the last user turn, and the reference answer. Labels stay structured calls
end to end; they are rendered to text only at the edge (prompt rendering, parquet export), so
judge fixes and EDDE rewrites never have to re-parse model text.

Messages use the engine's structured form (OpenAI-like, but calls are plain dicts):
  {"role": "system" | "user" | "assistant" | "tool", "content": str,
   "tool_calls": [{"name": str, "arguments": {...}}]   # assistant only, optional
   "name": str}                                        # tool only: which tool answered
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Origin = Literal["seed", "edde", "label_fix", "hppl", "seed_new"]


class Provenance(BaseModel):
    """Where a sample came from, so every label in D_j can be traced to its seed and verdicts."""

    model_config = ConfigDict(extra="forbid")

    origin: Origin = "seed"
    iteration: int = 0
    parent_id: str | None = None
    dialog_id: str | None = None
    verdicts: dict[str, Any] = Field(default_factory=dict)
    analysis: str | None = None
    previous_label: list[dict[str, Any]] | None = None
    bucket: Literal["ES", "EE", "HPPL", "SEED_NEW"] | None = Field(
        None, description="which part of Eq. 5 put the sample into the current dataset"
    )
    selection: str | None = Field(None, description="set when a Table 4 ablation, not the paper's rule, chose the sample for its bucket")


class StepSample(BaseModel):
    """One (tools, context, reference) training sample."""

    model_config = ConfigDict(extra="forbid")

    id: str
    tools: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    label_calls: list[dict[str, Any]] = Field(default_factory=list)
    label_text: str | None = None
    current_time: str = "Unknown"
    domain: str | None = None
    provenance: Provenance = Field(default_factory=Provenance)

    @property
    def expects_call(self) -> bool:
        return bool(self.label_calls)
