"""Seconds per GRPO step and peak memory of the TRL backend on this CPU.

Usage: python scripts/bench_trainer.py [--models tiny,smollm2] [--steps 3] [--prompts 2]
           [--rollouts 4] [--completion 32] [--work DIR]
Runs with the dev venv (orchestrator side); training happens in the TRL runtime env through
looptool.train.run_training, exactly as the loop runs it. Models are built with the TRL python by
scripts/make_tiny_model.py and scripts/convert_smollm2.py (no hub). The first step includes
warm-up, so the table reports it apart from the mean of the others.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

from looptool.paths import data_dir, runtime_python
from looptool.samples import StepSample
from looptool.train import TrainSettings, run_training

BUILDERS = {"tiny": "make_tiny_model.py", "smollm2": "convert_smollm2.py"}
TOOLS = [
    {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
    {
        "name": "book_table",
        "description": "Book a restaurant table.",
        "parameters": {
            "type": "object",
            "properties": {"restaurant": {"type": "string"}, "people": {"type": "integer"}, "time": {"type": "string"}},
            "required": ["restaurant", "people", "time"],
        },
    },
]
CITIES = ["paris", "oslo", "lima", "tokyo", "cairo", "quito", "perth", "delhi"]


def bench_samples(n: int) -> list[StepSample]:
    return [
        StepSample(
            id=f"b{i}",
            tools=TOOLS,
            messages=[{"role": "user", "content": f"What's the weather like in {CITIES[i % len(CITIES)]} today?"}],
            label_calls=[{"name": "get_weather", "arguments": {"city": CITIES[i % len(CITIES)]}}],
            current_time="2025-01-01 09:00",
        )
        for i in range(n)
    ]


def build_model(name: str, python: Path, models_dir: Path) -> Path:
    out = models_dir / name
    if not (out / "config.json").is_file():
        started = time.perf_counter()
        subprocess.run([str(python), str(data_dir("scripts") / BUILDERS[name]), str(out)], check=True, stdout=subprocess.DEVNULL)
        print(f"built {name} in {time.perf_counter() - started:.1f} s -> {out}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="tiny,smollm2")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=2, help="prompts per step (train_batch_size)")
    parser.add_argument("--rollouts", type=int, default=4, help="completions per prompt")
    parser.add_argument("--completion", type=int, default=32, help="max completion tokens")
    parser.add_argument("--micro", type=int, default=4, help="completions per forward/backward chunk")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    python = runtime_python("trl")
    if not python.exists():
        sys.exit(f"TRL runtime missing at {python}; run scripts/setup_trl.sh")
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_trainer-"))
    dataset = work / "bench.jsonl"
    work.mkdir(parents=True, exist_ok=True)
    dataset.write_text("".join(s.model_dump_json() + "\n" for s in bench_samples(args.prompts * args.steps)))
    rows = []
    for name in args.models.split(","):
        model = build_model(name, python, work / "models")
        settings = TrainSettings(
            backend="trl",
            grpo={
                "train_batch_size": args.prompts,
                "mini_batch_size": args.prompts,
                "rollouts_per_prompt": args.rollouts,
                "max_steps": args.steps,
                "max_response_length": args.completion,
                "save_freq": args.steps,
                "learning_rate": 1e-6,
            },
            trl={"per_device_batch_size": args.micro},
        )
        run_dir = work / f"run_{name}_{int(time.time())}"
        started = time.perf_counter()
        result = anyio.run(lambda: run_training(settings, dataset, model, run_dir, console=lambda line: None))  # noqa: B023 - run at once
        wall = time.perf_counter() - started
        trainer = result.metrics["trainer"]
        times = trainer["step_times_s"]
        rest = times[1:] or times
        rows.append(
            {
                "model": name,
                "params_dir": str(model),
                "steps": len(times),
                "first_step_s": round(times[0], 2),
                "mean_step_s": round(sum(rest) / len(rest), 2),
                "peak_rss_mb": round(trainer["peak_rss_mb"]),
                "wall_s": round(wall, 1),
            }
        )
    print(
        f"\nTRL GRPO on CPU: {args.prompts} prompts x {args.rollouts} rollouts per step, completion <= "
        f"{args.completion} tokens, micro-batch {args.micro}, fp32"
    )
    print(f"{'model':<10}{'steps':>6}{'first step s':>14}{'mean step s':>13}{'peak RSS MB':>13}{'run wall s':>12}")
    for r in rows:
        print(f"{r['model']:<10}{r['steps']:>6}{r['first_step_s']:>14}{r['mean_step_s']:>13}{r['peak_rss_mb']:>13}{r['wall_s']:>12}")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
