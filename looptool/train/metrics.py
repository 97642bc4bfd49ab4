"""Trainer metrics parsed from the live log into the run's stats.

verl's console logger prints one line per step (verl/utils/logger/aggregate_logger.py):
    step:3 - actor/pg_loss:-0.012 - critic/score/mean:np.float64(0.25) - timing_s/step:41.2
possibly behind a Ray prefix such as "(TaskRunner pid=123) ". Our TRL worker prints
    LOOPTOOL_METRICS {"step": 3, "loss": ..., "reward": ..., "step_time_s": ...}
Both end up as one dict per step; `summary()` adds the three numbers every stage report shows
under the same names whatever the backend: reward_mean, loss, step_time_s.
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
        "step_time_s": ("timing_s/step",),
    },
    "trl": {
        "reward_mean": ("reward",),
        "loss": ("loss",),
        "step_time_s": ("step_time_s",),
    },
}


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
    return {
        k: float(v) for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


@dataclass
class MetricsCollector:
    """Accumulates per-step metrics from log lines of one backend."""

    backend: str
    history: list[dict[str, float]] = field(default_factory=list)

    def feed(self, line: str) -> dict[str, float] | None:
        parsed = parse_verl_line(line) if self.backend == "verl" else parse_trl_line(line)
        if parsed is not None and "step" in parsed:
            self.history.append(parsed)
            return parsed
        return None

    def _standard(self, row: dict[str, float], name: str) -> float | None:
        for key in STANDARD_KEYS[self.backend][name]:
            if key in row:
                return row[key]
        return None

    def summary(self) -> dict[str, Any]:
        """Stats for the run record: last reward and loss, mean step time, and the history."""
        steps = [r for r in self.history if self._standard(r, "step_time_s") is not None or
                 self._standard(r, "reward_mean") is not None or self._standard(r, "loss") is not None]
        out: dict[str, Any] = {"steps": int(max((r["step"] for r in self.history), default=0))}
        for name in ("reward_mean", "loss"):
            values = [v for r in steps if (v := self._standard(r, name)) is not None]
            out[name] = values[-1] if values else None
            out[f"{name}_first"] = values[0] if values else None
        times = [v for r in steps if (v := self._standard(r, "step_time_s")) is not None and math.isfinite(v)]
        out["step_time_s"] = sum(times) / len(times) if times else None
        out["history"] = self.history
        return out
