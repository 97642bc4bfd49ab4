"""Trainer metrics parsed from the live log into the run's stats.

verl's console logger prints one line per step (verl/utils/logger/aggregate_logger.py):
    step:3 - actor/pg_loss:-0.012 - critic/score/mean:np.float64(0.25) - timing_s/step:41.2
possibly behind a Ray prefix such as "(TaskRunner pid=123) ". Our TRL worker prints
    LOOPTOOL_METRICS {"step": 3, "loss": ..., "reward": ..., "step_time_s": ...}
Both end up as one dict per step; `summary()` adds the numbers every stage report shows under
the same names whatever the backend: reward_mean, loss, grad_norm, step_time_s, and the reward
spread. `describe(row)` turns a step into the one console line a person reads.

Reward spread: GRPO learns only from groups whose rollouts got different rewards (a group with
one reward has zero advantage, so zero gradient). TRL logs `frac_reward_zero_std`, the fraction of
groups without spread; spread = 1 - that. verl 0.9.1 logs no per-group statistic; a step whose
advantages are all zero (`critic/advantages/max` = `min` = 0) had no group with spread, which
is all that can be said, so its fraction is reported as unavailable.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

TRL_PREFIX = "LOOPTOOL_METRICS "

_VERL_STEP = re.compile(r"(?:^|[\s)])step:(\d+) - (.+)$")
_NUMBER_WRAPPER = re.compile(r"^(?:np\.\w+|numpy\.\w+|tensor)\((.*?)(?:,.*)?\)$")

# Which raw key gives each standard number, per backend (first present wins).
STANDARD_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "verl": {
        "reward_mean": ("critic/score/mean", "critic/rewards/mean"),
        "loss": ("actor/pg_loss", "actor/loss"),
        "grad_norm": ("actor/grad_norm",),
        "step_time_s": ("timing_s/step",),
    },
    "trl": {
        "reward_mean": ("reward",),
        "loss": ("loss",),
        "grad_norm": ("grad_norm",),
        "step_time_s": ("step_time_s",),
    },
}
# The supervised warm start (verl's SFT trainer logs train/*; it has no step timer).
SFT_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "verl": {"loss": ("train/loss",), "grad_norm": ("train/grad_norm",), "step_time_s": ()},
    "trl": {"loss": ("loss",), "grad_norm": ("grad_norm",), "token_accuracy": ("mean_token_accuracy",), "step_time_s": ("step_time_s",)},
}
SPREAD = "reward_spread"  # fraction of GRPO groups with reward spread, added to each TRL row
NO_SPREAD = "no_reward_spread"  # 1.0 when the step certainly had no group with spread


def _number(text: str) -> float | None:
    text = text.strip()
    wrapped = _NUMBER_WRAPPER.match(text)
    if wrapped:
        text = wrapped.group(1)
    try:
        return float(text)
    except ValueError:
        return None


def parse_verl_line(line: str) -> dict[str, float] | None:
    """The metrics of one verl console step line, or None for any other line."""
    match = _VERL_STEP.search(line.rstrip())
    if not match:
        return None
    metrics: dict[str, float] = {"step": float(match.group(1))}
    for item in match.group(2).split(" - "):
        key, sep, value = item.partition(":")
        if not sep:
            continue
        number = _number(value)
        if number is not None:
            metrics[key.strip()] = number
    return metrics if len(metrics) > 1 else None


def parse_trl_line(line: str) -> dict[str, float] | None:
    """The metrics our TRL worker printed on this line, or None."""
    start = line.find(TRL_PREFIX)
    if start < 0:
        return None
    try:
        data = json.loads(line[start + len(TRL_PREFIX) :])
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _spread_fields(backend: str, row: dict[str, float]) -> None:
    """Add SPREAD (fraction, TRL) and NO_SPREAD (1.0/0.0 when decidable) to a GRPO step row."""
    if backend == "trl" and "frac_reward_zero_std" in row:
        row[SPREAD] = 1.0 - row["frac_reward_zero_std"]
        row[NO_SPREAD] = 1.0 if row["frac_reward_zero_std"] >= 1.0 else 0.0
    elif backend == "verl" and "critic/advantages/max" in row and "critic/advantages/min" in row:
        row[NO_SPREAD] = 1.0 if row["critic/advantages/max"] == 0 and row["critic/advantages/min"] == 0 else 0.0


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if value != 0 and (abs(value) >= 1e4 or abs(value) < 10**-digits):
        return f"{value:.{digits}g}"
    return f"{value:.{digits}f}"


@dataclass
class MetricsCollector:
    """Accumulates per-step metrics from log lines of one backend, for GRPO or the SFT warm start.

    `groups_per_step` (GRPO prompts per step) lets a step line say how many groups had spread.
    """

    backend: str
    stage: str = "grpo"
    groups_per_step: int | None = None
    history: list[dict[str, float]] = field(default_factory=list)

    def feed(self, line: str) -> dict[str, float] | None:
        parsed = parse_verl_line(line) if self.backend == "verl" else parse_trl_line(line)
        if parsed is not None and "step" in parsed:
            if self.stage == "grpo":
                _spread_fields(self.backend, parsed)
            self.history.append(parsed)
            return parsed
        return None

    def _keys(self) -> dict[str, tuple[str, ...]]:
        return STANDARD_KEYS[self.backend] if self.stage == "grpo" else SFT_KEYS[self.backend]

    def _standard(self, row: dict[str, float], name: str) -> float | None:
        for key in self._keys().get(name, ()):
            if key in row:
                return row[key]
        return None

    def describe(self, row: dict[str, float]) -> str:
        """One readable console line for a step (the raw metrics stay in train.log)."""
        total = row.get("max_steps")
        step = f"{int(row['step'])}/{int(total)}" if total else f"{int(row['step'])}"
        parts: list[str] = []
        if self.stage == "grpo":
            parts.append(f"reward {_fmt(self._standard(row, 'reward_mean'))}")
            parts.append(f"spread {self._spread_text(row)}")
        else:
            accuracy = self._standard(row, "token_accuracy")
            parts.append(f"loss {_fmt(self._standard(row, 'loss'))}")
            if accuracy is not None:
                parts.append(f"token accuracy {_fmt(accuracy)}")
        if self.stage == "grpo":
            parts.append(f"loss {_fmt(self._standard(row, 'loss'), 4)}")
        parts.append(f"grad_norm {_fmt(self._standard(row, 'grad_norm'))}")
        seconds = self._standard(row, "step_time_s")
        if seconds is not None:
            parts.append(f"{seconds:.1f} s")
        name = "GRPO step" if self.stage == "grpo" else "SFT step"
        return f"[train] {name} {step}: " + ", ".join(parts)

    def _spread_text(self, row: dict[str, float]) -> str:
        spread = row.get(SPREAD)
        if spread is not None:
            groups = self.groups_per_step
            if groups and abs(spread * groups - round(spread * groups)) < 1e-6:
                return f"{spread:.2f} ({round(spread * groups)} of {groups} groups)"
            return f"{spread:.2f}"
        if row.get(NO_SPREAD) == 1.0:
            return "none (all advantages 0)"
        if row.get(NO_SPREAD) == 0.0:
            return "some groups (fraction not logged by verl)"
        return "not logged"

    def summary(self) -> dict[str, Any]:
        """Stats for the run record: last reward, loss and grad norm, mean step time, the spread."""
        steps = [
            r
            for r in self.history
            if self._standard(r, "step_time_s") is not None
            or self._standard(r, "reward_mean") is not None
            or self._standard(r, "loss") is not None
        ]
        out: dict[str, Any] = {"steps": int(max((r["step"] for r in self.history), default=0))}
        names = ("reward_mean", "loss", "grad_norm") if self.stage == "grpo" else ("loss", "grad_norm", "token_accuracy")
        for name in names:
            values = [v for r in steps if (v := self._standard(r, name)) is not None]
            out[name] = values[-1] if values else None
            out[f"{name}_first"] = values[0] if values else None
        times = [v for r in steps if (v := self._standard(r, "step_time_s")) is not None and math.isfinite(v)]
        out["step_time_s"] = sum(times) / len(times) if times else None
        if self.stage == "grpo":
            out.update(self._spread_summary())
        out["history"] = self.history
        return out

    def _spread_summary(self) -> dict[str, Any]:
        fractions = [r[SPREAD] for r in self.history if SPREAD in r]
        decided = [r[NO_SPREAD] for r in self.history if NO_SPREAD in r]
        return {
            SPREAD: sum(fractions) / len(fractions) if fractions else None,
            "zero_spread_steps": int(sum(decided)) if decided else None,
            # True only when every step was seen and none had a group with spread: zero gradient.
            "no_spread_all_steps": bool(decided) and len(decided) == len(self.history) and all(decided),
        }
