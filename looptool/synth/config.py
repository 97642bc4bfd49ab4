"""Settings of seed construction (paper §3): API synthesis, tool pool, dialogs, verification, samples."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApiSynthSettings(_Strict):
    attempts: int = Field(64, ge=0, description="(context, constraint) pairs sent to the generator")
    near_duplicate_threshold: float = Field(0.75, gt=0, le=1)
    concurrency: int = Field(64, ge=1)
    round_size: int = Field(
        256,
        ge=1,
        description="units per round: a prompt lists names accepted in earlier rounds only, so the result never depends on timing",
    )


class PoolSettings(_Strict):
    use_synthesized: bool = True
    import_bfcl: Literal["none", "multi_turn", "all"] = Field(
        "none",
        description="add BFCL's function docs (needs the bfcl runtime): multi_turn = the 8 stateful backends, "
        "executed for real in dialogs; all = also every single-turn category (mind evaluation overlap)",
    )
    import_files: list[str] = Field(default_factory=list, description="ToolACE/xLAM-style JSON lists of tool specs")
    skip_invalid_imports: bool = Field(
        False, description="skip (and count) invalid or repeated specs in import_files instead of refusing the config"
    )


class DialogSettings(_Strict):
    count: int = Field(32, ge=0)
    tools_per_dialog: tuple[int, int] = (3, 5)
    requests_per_dialog: tuple[int, int] = (2, 4)
    kind_weights: dict[str, float] = Field(
        default_factory=lambda: {"single": 0.35, "parallel": 0.2, "dependent": 0.2, "missing_param": 0.15, "no_tool": 0.1}
    )
    max_assistant_steps_per_request: int = Field(4, ge=1)
    mix_domains: bool = Field(False, description="sample tools across domains instead of within one")
    executable_backends: bool = Field(True, description="run registered Python backends instead of the tool agent")
    tool_choice: Literal["auto", "plan"] = Field(
        "auto",
        description='"plan": require a call on the first assistant step of a request the plan says needs tools '
        "(small models otherwise answer in prose); the judge tier still checks every call",
    )
    strict_tools: bool = Field(False, description='send tools with "strict": true so the server enforces argument schemas')
    concurrency: int = Field(128, ge=1)

    @model_validator(mode="after")
    def _ranges(self) -> DialogSettings:
        for name in ("tools_per_dialog", "requests_per_dialog"):
            low, high = getattr(self, name)
            if not 1 <= low <= high:
                raise ValueError(f"{name} must be [low, high] with 1 <= low <= high")
        unknown = set(self.kind_weights) - {"single", "parallel", "dependent", "missing_param", "no_tool"}
        if unknown:
            raise ValueError(f"kind_weights: unknown kinds {sorted(unknown)}")
        negative = sorted(k for k, w in self.kind_weights.items() if not w >= 0)
        if negative:
            raise ValueError(f"kind_weights: weights must be >= 0 (got {', '.join(f'{k} = {self.kind_weights[k]}' for k in negative)})")
        if not any(w > 0 for w in self.kind_weights.values()):
            raise ValueError("kind_weights: at least one weight must be positive")
        return self


GateAction = Literal["reject", "judge", "flag"]


class GroundingSettings(_Strict):
    """Grounding of call arguments in the conversation (looptool.synth.grounding, docs/quality.md).
    Used by every rule tier: seed verification, EDDE samples and the JGLV label-fix guard."""

    enabled: bool = True
    policy: GateAction = Field(
        "reject",
        description="an argument clearly not from the conversation (absent, a placeholder, the parameter's own name): "
        "reject the step; judge = send it to the judge tier with the finding attached; flag = keep it and record the finding",
    )
    weak_policy: GateAction = Field(
        "judge", description="an argument only partly backed (score above 0, below accept_score), e.g. a composed email body"
    )
    accept_score: float = Field(
        0.5,
        gt=0,
        le=1,
        description="arguments scoring below this are findings; above 0.6 also refuses enum members, booleans, "
        "the number 1 and the conversation's date when nobody said them",
    )


class StructureSettings(_Strict):
    """Dialog-structure rules (looptool.synth.structure), for every rule tier like grounding."""

    allow_consecutive_user_turns: bool = Field(False, description="the engine's format alternates user and assistant")
    check_language: bool = Field(True, description="confidently identified turns must share one language")
    language_min_letters: int = Field(20, ge=1, description="shorter turns are not language-checked")
    language_min_confidence: float = Field(0.9, gt=0, le=1)
    repetition_min_words: int = Field(16, ge=4, description="texts this long or longer are checked for repeated 4-grams")
    max_repeated_ngram_share: float = Field(0.5, gt=0, lt=1, description="share of repeated word 4-grams above which a text loops")
    max_turn_chars: int = Field(4000, ge=1, description="longest user or assistant text")
    max_tool_result_chars: int = Field(20000, ge=1)
    max_messages: int = Field(64, ge=1, description="most messages in one conversation (a sample's context included)")


class VerifySettings(_Strict):
    judge: bool = Field(True, description="LLM-judge tier after the rule tier")
    near_duplicate_threshold: float = Field(0.9, gt=0, le=1)
    concurrency: int = Field(128, ge=1)
    grounding: GroundingSettings = Field(default_factory=GroundingSettings)
    structure: StructureSettings = Field(default_factory=StructureSettings)


class SampleSettings(_Strict):
    include_text_steps: bool = Field(True, description="also emit 'ask for the missing argument' and no-tool replies")
    max_history_messages: int | None = Field(None, ge=1)
    max_prompt_tokens: int = Field(4096, ge=1)
    data_source: str = "looptool"


class SynthSettings(_Strict):
    domains: list[str] = Field(default_factory=list, description="empty: every domain in trees/")
    apis: ApiSynthSettings = Field(default_factory=ApiSynthSettings)
    pool: PoolSettings = Field(default_factory=PoolSettings)
    dialogs: DialogSettings = Field(default_factory=DialogSettings)
    verify: VerifySettings = Field(default_factory=VerifySettings)
    samples: SampleSettings = Field(default_factory=SampleSettings)
