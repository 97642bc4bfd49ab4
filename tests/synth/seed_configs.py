"""Config texts for seed-construction tests against the simulator."""

from __future__ import annotations

from pathlib import Path


def sim_config(
    tmp_path: Path, *, dialogs: int = 12, apis: int = 16, assistant: str = "", judge: str = "", latency_ms: float = 0, extra: str = ""
) -> Path:
    text = f"""
[run]
name = "t"
dir = "run"
seed = 7

[endpoints.gen]
model = "sim-gen"
launch = "sim"
[endpoints.gen.sim]
latency_ms = {latency_ms}

[endpoints.asst]
model = "sim-asst"
launch = "sim"
[endpoints.asst.sim]
{assistant}

[endpoints.judge]
model = "sim-judge"
launch = "sim"
[endpoints.judge.sim]
{judge}

[roles]
planner = "gen"
user = "gen"
tool = "gen"
generator = "gen"
assistant = "asst"
judge = "judge"

[synth]
domains = ["travel", "finance", "smart_home"]
[synth.apis]
attempts = {apis}
[synth.dialogs]
count = {dialogs}
concurrency = 16
{extra}
"""
    path = tmp_path / "seed.toml"
    path.write_text(text)
    return path
