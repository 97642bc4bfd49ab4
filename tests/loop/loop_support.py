"""Helpers for loop tests: simulator configs and a trainer double (tests only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from looptool.train.runner import TrainResult


class RecordedCheckpointTrainer:
    """TEST DOUBLE, not a trainer: hands back a recorded checkpoint directory for every iteration
    and records what it was asked to train on. The simulator serves the policy in these tests, so
    the checkpoint content never matters; the loop's plumbing around training does."""

    def __init__(self, checkpoint: Path) -> None:
        self.checkpoint = checkpoint
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, settings: Any, dataset: Path, init_model: Path, work_dir: Path, *, console: Any = None) -> TrainResult:
        rows = sum(1 for _ in open(dataset))
        self.calls.append({"dataset": Path(dataset), "init_model": Path(init_model), "work_dir": Path(work_dir), "rows": rows})
        model_dir = Path(work_dir) / "model"
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / "config.json").write_text((self.checkpoint / "config.json").read_text())
        return TrainResult(
            model_dir=model_dir,
            metrics={"backend": "recorded-checkpoint double", "steps": 0, "reward_mean": None},
            log_path=Path(work_dir) / "train.log",
        )


def recorded_checkpoint(tmp_path: Path) -> Path:
    directory = tmp_path / "recorded_checkpoint"
    directory.mkdir(exist_ok=True)
    (directory / "config.json").write_text(json.dumps({"model_type": "recorded-double"}))
    return directory


def loop_config(
    tmp_path: Path,
    *,
    dialogs: int = 40,
    iterations: int = 2,
    label_noise: float = 0.3,
    policy_errors: float = 0.3,
    first_size: int | None = 60,
    dataset_size: int | None = None,
    extra: str = "",
    latency_ms: float = 0,
) -> Path:
    # The simulator plays the policy: a fixed endpoint, so probing it must be asked for explicitly.
    if "[loop.probe]" in extra:
        extra = extra.replace("[loop.probe]", "[loop.probe]\nfixed_endpoint = true", 1)
    else:
        extra = "[loop.probe]\nfixed_endpoint = true\n" + extra
    text = f"""
[run]
name = "loop"
dir = "run"
seed = 11
iterations = {iterations}

[policy]
init_model = "{recorded_checkpoint(tmp_path)}"

[endpoints.gen]
model = "sim-gen"
launch = "sim"
[endpoints.gen.sim]
latency_ms = {latency_ms}

[endpoints.labeler]
model = "sim-labeler"
launch = "sim"
[endpoints.labeler.sim]
wrong_call_rate = {label_noise}

[endpoints.judge]
model = "sim-judge"
launch = "sim"
[endpoints.judge.sim]

[endpoints.policy]
model = "sim-policy"
launch = "sim"
[endpoints.policy.sim]
wrong_call_rate = {policy_errors}

[roles]
planner = "gen"
user = "gen"
tool = "gen"
generator = "gen"
assistant = "labeler"
judge = "judge"
policy = "policy"

[synth]
domains = ["travel", "finance", "smart_home", "logistics"]
[synth.apis]
attempts = 24
[synth.dialogs]
count = {dialogs}
concurrency = 32
[synth.verify]
judge = false   # rule tier only: well-formed wrong labels survive, as they do past real judges

[loop.compose]
{f"first_iteration_size = {first_size}" if first_size else ""}
{f"dataset_size = {dataset_size}" if dataset_size else ""}
{extra}
"""
    path = tmp_path / "loop.toml"
    path.write_text(text)
    return path
