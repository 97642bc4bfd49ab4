"""What the TRL workers (GRPO and SFT) share: metric lines, phases, checkpoints, quiet trainers.

Stdlib at import time: the workers import torch/transformers/trl inside their `run`, so the
orchestrator can import them (for their pure config mappings) without those libraries.

Why a worker prints so little: the orchestrator streams every line to the console. transformers'
own printer callback would repeat each metrics dict next to our `LOOPTOOL_METRICS` line and its
tqdm bars arrive as `\\r`-joined runs in a pipe; so the workers drop the printer callback, run
with TQDM_DISABLE, and say what they are doing in a few `[worker] ...` phase lines instead.
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path
from typing import Any

METRICS_PREFIX = "LOOPTOOL_METRICS "


def emit_metrics(payload: dict[str, Any]) -> None:
    print(METRICS_PREFIX + json.dumps(payload, default=float), flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Phases:
    """`[name] what (12.3 s)` lines: elapsed time since the worker started, for long silent work."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = time.perf_counter()

    def say(self, text: str) -> None:
        print(f"[{self.name}] {text} ({time.perf_counter() - self.started:.1f} s)", flush=True)


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The newest complete `checkpoint-N` (one with trainer_state.json) in a Trainer output dir."""
    steps = [
        (int(p.name.split("-", 1)[1]), p)
        for p in Path(output_dir).glob("checkpoint-*")
        if p.name.split("-", 1)[1].isdigit() and (p / "trainer_state.json").is_file()
    ]
    return max(steps)[1] if steps else None


def quiet(trainer: Any) -> None:
    """Remove transformers' console printers: our metrics callback is the one progress line."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)


def metrics_callback(extra: Any = None) -> Any:
    """A TrainerCallback printing each log as one `LOOPTOOL_METRICS` line with the step time, and
    skipping the checkpoint of the final step (the final model is saved instead).

    `extra()` adds fields (reward call counts). Built at run time: TrainerCallback needs transformers.
    """
    from transformers import TrainerCallback

    class MetricsCallback(TrainerCallback):
        def __init__(self) -> None:
            self.step_started = 0.0
            self.step_times: list[float] = []

        def on_step_begin(self, args, state, control, **kwargs):
            self.step_started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.step_times.append(time.perf_counter() - self.step_started)
            # transformers checkpoints the last step too (weights + optimizer, 1.5 GB for SmolLM2);
            # the worker saves the final model right after, so that checkpoint would only be deleted.
            if state.max_steps and state.global_step >= state.max_steps:
                control.should_save = False

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "loss" not in logs and "reward" not in logs:
                return
            payload = {
                "step": state.global_step,
                "max_steps": state.max_steps,
                **{k: v for k, v in logs.items() if isinstance(v, (int, float))},
            }
            if self.step_times:
                payload["step_time_s"] = self.step_times[-1]
            payload["peak_rss_mb"] = peak_rss_mb()
            if extra is not None:
                payload.update(extra())
            emit_metrics(payload)

    return MetricsCallback()
