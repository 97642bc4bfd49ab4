"""Settings of the closed loop (paper §4, Algorithm 1, Eq. 5, Tables 3-4)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from looptool.eval.acebench_settings import AceBenchEvalSettings
from looptool.eval.settings import BfclEvalSettings


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProbeSettings(_Strict):
    """GCP: greedy decoding of the new policy on every sample of D_j."""

    max_tokens: int = Field(1024, ge=1)
    high_ppl_rule: Literal["top_fraction", "threshold"] = "top_fraction"
    high_ppl_fraction: float = Field(0.2, gt=0, le=1, description="top share of mastered samples by perplexity")
    high_ppl_threshold: float = Field(1.5, gt=1, description="perplexity above which a mastered sample is kept")
    concurrency: int = Field(256, ge=1)
    fixed_endpoint: bool = Field(
        False,
        description="probe a fixed model on purpose: allow roles.policy to point at an endpoint that does not serve "
        "the loop's checkpoints (otherwise that is a configuration error: GCP would measure the wrong model)",
    )


class JudgeSettings(_Strict):
    """JGLV: label vs prediction, position bias removed."""

    order: Literal["both", "random"] = Field(
        "both", description="both: judge A/B and B/A and combine by the conservative rule; random: one call, order recorded"
    )
    guard: bool = Field(
        True,
        description="replace a label only by a prediction that passes the rule tier (synth.verify: structure, "
        "tools, grounding) and was not cut off",
    )
    blocked_fix: Literal["pred_wrong", "drop"] = Field(
        "pred_wrong",
        description="what a LABEL_WRONG verdict the guard blocks becomes: pred_wrong keeps the label "
        "(an error seed), drop discards the sample",
    )
    concurrency: int = Field(128, ge=1)


SCENARIOS = (
    "change the complexity: more context, more constraints or an extra distracting detail",
    "change the user persona: a different person with a different tone and vocabulary",
    "change the interaction style: terse, chatty, indirect, or with a correction midway",
    "change the data: other names, places, numbers, dates and units in the same roles",
)


class ExpandSettings(_Strict):
    """EDDE: k new samples per error seed, verified like seed dialogs."""

    k: int = Field(4, ge=1, le=16)
    scenarios: list[str] = Field(default_factory=lambda: list(SCENARIOS))
    judge: bool = True
    near_duplicate_threshold: float = Field(0.9, gt=0, le=1)
    concurrency: int = Field(64, ge=1)


class ComposeSettings(_Strict):
    """Eq. 5: D_{j+1} = D_ES + D_EE + D_HPPL + D_seed-new at a fixed total size."""

    dataset_size: int | None = Field(None, ge=1, description="|D_j| for every iteration; default: the size of D_1")
    first_iteration_size: int | None = Field(
        None,
        ge=1,
        description="|D_1| (all seed); default: dataset_size if set, else as many as the seed pool holds after "
        "reserving the never-trained seed samples Table 3's schedule needs for iterations 2..J",
    )
    seed_new_shares: list[float] = Field(
        default_factory=lambda: [1.0, 0.308, 0.154, 0.077],
        description="share of never-trained seed samples in D_1, D_2, ...; the last value repeats (paper Table 3)",
    )

    @model_validator(mode="after")
    def _shares(self) -> ComposeSettings:
        if not self.seed_new_shares or any(not 0 <= s <= 1 for s in self.seed_new_shares):
            raise ValueError("seed_new_shares must be a non-empty list of values in [0, 1]")
        return self

    def seed_new_share(self, iteration: int) -> float:
        return self.seed_new_shares[min(iteration - 1, len(self.seed_new_shares) - 1)]

    def seed_new_needed(self, iteration: int, size: int) -> int:
        """Never-trained seed samples D_iteration must hold to meet its share of `size`."""
        return round(self.seed_new_share(iteration) * size)


ABLATIONS = {
    "without_high_ppl": "w/o High-PPL",
    "without_jglv": "w/o JGLV",
    "remove_edde": "Remove EDDE",
    "high_ppl_replace": "HighPPL-Replace",
    "error_seed_repetition": "Error-Seed Repetition",
}
_RENAMED = {
    "no_high_ppl": ("without_high_ppl", "it dropped D_HPPL; the paper's ablation replaces D_HPPL by as many random mastered samples"),
    "no_jglv": ("without_jglv", "same meaning"),
    "no_edde": ("remove_edde", "same meaning"),
}


class AblationSettings(_Strict):
    """The five ablations of paper Table 4, one switch each, named as the paper names them.
    Each is a single change to Algorithm 1, so at most one is on in a run."""

    without_high_ppl: bool = Field(False, description='"w/o High-PPL": D_HPPL replaced by as many random samples the model got right')
    without_jglv: bool = Field(False, description='"w/o JGLV": no judge at all; every mismatch is an error seed; labels never change')
    remove_edde: bool = Field(False, description='"Remove EDDE": D_EE dropped (no generator calls); seed samples fill its place')
    high_ppl_replace: bool = Field(False, description='"HighPPL-Replace": D_EE replaced by as many extra high-perplexity mastered samples')
    error_seed_repetition: bool = Field(
        False, description='"Error-Seed Repetition": D_EE removed, each error seed repeated k times instead'
    )

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for old, (new, note) in _RENAMED.items():
                if old in data:
                    raise ValueError(f"{old!r} was renamed {new!r} (paper Table 4 {ABLATIONS[new]!r}; {note})")
        return data

    @model_validator(mode="after")
    def _one_at_a_time(self) -> AblationSettings:
        on = [name for name in ABLATIONS if getattr(self, name)]
        if len(on) > 1:
            raise ValueError(f"{' and '.join(on)} are on together; Table 4 ablates one part at a time: keep one")
        return self

    @property
    def active(self) -> str | None:
        return next((name for name in ABLATIONS if getattr(self, name)), None)

    @property
    def edde_runs(self) -> bool:
        """Whether the generator is asked at all (the three D_EE ablations replace it)."""
        return not (self.remove_edde or self.high_ppl_replace or self.error_seed_repetition)


class EvalSettings(_Strict):
    bfcl_each_iteration: bool = Field(False, description="score the policy on BFCL after each iteration (needs the bfcl runtime)")
    bfcl: BfclEvalSettings = Field(default_factory=BfclEvalSettings)
    acebench_each_iteration: bool = Field(
        False, description="score the policy on ACEBench after each iteration (agent_multi_turn uses the 'user' role)"
    )
    acebench: AceBenchEvalSettings = Field(default_factory=AceBenchEvalSettings)


class LoopSettings(_Strict):
    probe: ProbeSettings = Field(default_factory=ProbeSettings)
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    expand: ExpandSettings = Field(default_factory=ExpandSettings)
    compose: ComposeSettings = Field(default_factory=ComposeSettings)
    ablations: AblationSettings = Field(default_factory=AblationSettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)
