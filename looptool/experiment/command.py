"""`looptool experiment [--quick] [--out DIR]`: the learning experiment from one command.

Builds the world (dev side), runs the worker in the TRL runtime (policy, GRPO, probing), and writes
results.md / results.json / accuracy.png / rewards.png in the output directory. Re-running with the
same --out resumes: finished arm-seeds are kept, the warm start is cached under
~/.cache/looptool/experiment/warm-<key>.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from looptool.errors import LoopToolError
from looptool.experiment.settings import ALL_ARMS, ExperimentSettings, default_settings, quick_settings
from looptool.experiment.world import build_world


class ExperimentError(LoopToolError):
    """The experiment worker failed (its log is named)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="CI size: static and loop, 2 seeds, 2 iterations (minutes)")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default runs/experiment or runs/experiment-quick)")
    parser.add_argument("--noise-rate", type=float, default=None, help="share of D_seed labels corrupted (default 0.25)")
    parser.add_argument("--arms", default=None, help="comma-separated arms to run (default: all of the size's arms)")
    parser.add_argument("--sft-steps", type=int, default=None, help="warm-start SFT steps (default 800; more = stronger start)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per arm (default: 3 for static/loop, 2 per ablation; quick 2)")


def prepare(settings: ExperimentSettings, out: Path) -> Path:
    """World and job files; an existing run dir must have been made with the same settings."""
    from looptool.models import ensure_model
    from looptool.paths import looptool_home

    out.mkdir(parents=True, exist_ok=True)
    job_path = out / "job.json"
    if job_path.exists():
        previous = json.loads(job_path.read_text())["settings"]
        if previous != settings.model_dump():
            raise ExperimentError(f"{job_path}: made with other settings; use another --out (nothing was changed)")
    world = build_world(settings.world)
    (out / "world.json").write_text(world.model_dump_json())
    job = {
        "settings": settings.model_dump(),
        "world": str(out / "world.json"),
        "out_dir": str(out),
        "warm_dir": str(looptool_home() / "experiment" / f"warm-{settings.warm_start_key()}"),
        "base_model": str(ensure_model(settings.policy.base_model)),
        "threads": settings.policy.threads,
    }
    job_path.write_text(json.dumps(job, indent=2))
    return job_path


def run_worker(job_path: Path, log_path: Path) -> None:
    from looptool.models import require_runtime_python
    from looptool.train.tokencount import looptool_pythonpath

    python = require_runtime_python("trl")
    env = {
        **os.environ,
        "PYTHONPATH": looptool_pythonpath(os.environ.get("PYTHONPATH")),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONWARNINGS": "ignore::FutureWarning",
        "TQDM_DISABLE": "1",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    }
    with log_path.open("a") as log:
        proc = subprocess.Popen(
            [str(python), "-m", "looptool.experiment.worker", str(job_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            log.flush()
            if line.startswith("[experiment"):
                print(line, end="", flush=True)
        code = proc.wait()
    if code != 0:
        raise ExperimentError(f"the experiment worker exited with {code}; see {log_path}")


def configured(args: argparse.Namespace) -> ExperimentSettings:
    """The size's settings with the command-line changes; unknown arms are one clear error."""
    settings = quick_settings() if args.quick else default_settings()
    if args.noise_rate is not None:
        settings.world = settings.world.model_copy(update={"noise_rate": args.noise_rate})
    if args.sft_steps is not None:
        settings.policy = settings.policy.model_copy(update={"sft_steps": args.sft_steps})
    arms = dict(settings.arms)
    if args.arms:
        wanted = [a.strip() for a in args.arms.split(",") if a.strip()]
        unknown = [a for a in wanted if a not in ALL_ARMS]
        if unknown:
            raise ExperimentError(f"--arms: unknown arm(s) {', '.join(unknown)}; known: {', '.join(ALL_ARMS)}")
        arms = {a: arms.get(a, 2) for a in wanted}
    if args.seeds is not None:
        arms = {a: args.seeds for a in arms}
    settings.arms = arms
    try:
        return ExperimentSettings.model_validate(settings.model_dump())
    except ValueError as exc:
        raise ExperimentError(f"experiment settings: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from looptool.experiment.report import write_report

    settings = configured(args)
    out = args.out or Path("runs") / ("experiment-quick" if args.quick else "experiment")
    started = time.perf_counter()
    job_path = prepare(settings, out)
    run_worker(job_path, out / "worker.log")
    summary = write_report(out, f"the project's tiny Qwen3 model ({settings.policy.base_model})")
    wall = time.perf_counter() - started
    (out / "wall_time.json").write_text(json.dumps({"wall_s": wall}))
    sys.stdout.write((out / "results.md").read_text())
    print(f"\nwall time {wall / 60:.1f} min; tables and plots in {out}")
    return 0 if summary["arms"] else 1
