"""The trainer stage: dataset + previous checkpoint in, Hugging Face model directory out.

One entry point for both backends (`run_training`). The work dir of an iteration holds
everything the stage produces, so nothing is lost when the trainer dies and a re-run resumes:
    train.parquet        the dataset (when given as StepSample JSONL)
    reward_fn.py         verl's custom reward module (also used by the pre-flight)
    train_command.sh     the exact trainer command (what TrainerFailed tells you to re-run)
    train.log            every line the trainer printed, appended across attempts
    checkpoints/         the trainer's own checkpoints (verl global_step_N, TRL checkpoint-N)
    sft/                 the supervised warm start when `warm_start = "sft"` (looptool.train.sft)
    model/               the HF model handed to probing (written atomically, last)
    train_result.json    the stage's record; its presence means "done, do not recompute"
Once the record is written, checkpoints and the warm-start model are removed unless configured
otherwise (looptool.train.retention): resume never needs them again.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from looptool.train.config import TrainSettings
from looptool.train.metrics import MetricsCollector
from looptool.train.parquet import write_verl_parquet
from looptool.train.preflight import run_preflight
from looptool.train.process import (
    TrainerFailed,
    console_sink,
    elapsed_text,
    read_jsonl_samples,
    stream_process,
    subprocess_env,
    write_rerun_script,
)
from looptool.train.retention import release_stage_files
from looptool.train.tokencount import RuntimeTokenCounter
from looptool.train.verl_backend import (
    REWARD_FUNCTION,
    REWARD_MODULE,
    build_overrides,
    export_verl_model,
    main_ppo_argv,
    write_reward_module,
)

RESULT_FILE = "train_result.json"
MODEL_DIR = "model"


# The numbers a run's manifest and `looptool status` show for a training stage (rounded).
STAGE_COUNT_KEYS = ("backend", "warm_start", "steps", "reward_mean", "reward_spread", "loss", "grad_norm", "step_time_s", "wall_s")


@dataclass
class TrainResult:
    """The stage's output: the model for probing, parsed metrics, and where the log is."""

    model_dir: Path
    metrics: dict[str, Any]
    log_path: Path

    def stage_counts(self) -> dict[str, Any]:
        """The stage's headline numbers, rounded for people (the full metrics stay in the record)."""
        counts: dict[str, Any] = {}
        for key in STAGE_COUNT_KEYS:
            value = self.metrics.get(key)
            if key == "warm_start":
                value = "sft" if isinstance(value, dict) else value
            if value is None and key not in self.metrics:
                continue
            counts[key] = round(value, 4) if isinstance(value, float) else value
        return counts


def zero_spread_warning(metrics: dict[str, Any]) -> str | None:
    """The loud line for an iteration whose GRPO steps all had zero reward spread (zero gradient)."""
    if not metrics.get("no_spread_all_steps"):
        return None
    remedy = "a longer warm start ([train.sft])" if isinstance(metrics.get("warm_start"), dict) else 'train.warm_start = "sft"'
    return (
        f"WARNING: no GRPO group had reward spread in any of the {metrics.get('steps')} step(s): every "
        "rollout of a prompt got the same reward, so every advantage and gradient was zero and GRPO did not "
        f"change the policy. Try {remedy}, more rollouts_per_prompt, or easier data."
    )


def _atomic_write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


class TrainerConsole:
    """What the console shows of a trainer's output: each metrics line as one readable step line,
    everything else as printed. The log file keeps every raw line."""

    def __init__(self, say: Any, collector: MetricsCollector) -> None:
        self.say = say
        self.collector = collector

    def __call__(self, line: str) -> None:
        row = self.collector.feed(line)
        self.say(self.collector.describe(row) if row is not None else line)


async def _prepare_dataset(
    settings: TrainSettings, dataset: Path, init_model: Path, work_dir: Path, say: Any
) -> tuple[Path, dict[str, Any]]:
    """A parquet is used as is; StepSample JSONL is rendered, measured and filtered first."""
    if dataset.suffix == ".parquet":
        return dataset, {"path": str(dataset), "converted": False}
    if dataset.suffix != ".jsonl":
        raise ValueError(f"dataset {dataset}: expected a .parquet or a StepSample .jsonl file")
    target = work_dir / "train.parquet"

    def convert() -> Any:
        with RuntimeTokenCounter(settings.runtime_python(), init_model) as count:
            return write_verl_parquet(
                read_jsonl_samples(dataset),
                target,
                max_prompt_tokens=settings.grpo.max_prompt_length,
                count_tokens=count,
            )

    say(f"[train] dataset {dataset}: rendering prompts and measuring them with the policy tokenizer")
    report = await anyio.to_thread.run_sync(convert)
    say(f"[train] dataset -> {target}: {report.summary()}")
    for item in report.filtered[:20]:
        say(f"[train]   filtered overlong prompt {item.id}: {item.prompt_tokens} tokens")
    return target, {
        "path": str(target),
        "converted": True,
        "rows": report.rows,
        "filtered": [{"id": f.id, "prompt_tokens": f.prompt_tokens} for f in report.filtered],
        "max_prompt_tokens": report.max_prompt_tokens_seen,
    }


async def _run_verl(
    settings: TrainSettings,
    parquet: Path,
    init_model: Path,
    work_dir: Path,
    reward_file: Path,
    log_path: Path,
    sinks: list[Any],
    notice: Any = None,
) -> dict[str, Any]:
    python = settings.runtime_python()
    checkpoint_dir = work_dir / "checkpoints"
    overrides = build_overrides(
        settings,
        train_file=parquet,
        model_path=init_model,
        reward_file=reward_file,
        checkpoint_dir=checkpoint_dir,
        experiment_name=settings.verl.experiment_name or work_dir.name,
    )
    argv = main_ppo_argv(python, overrides)
    env = subprocess_env(settings)
    write_rerun_script(work_dir / "train_command.sh", argv, env, work_dir)
    await stream_process(
        argv,
        what="verl main_ppo",
        env=env,
        cwd=work_dir,
        log_path=log_path,
        sinks=sinks,
        tail_lines=settings.log_tail_lines,
        notice=notice,
    )
    return await export_verl_model(
        python,
        checkpoint_dir,
        work_dir / MODEL_DIR,
        env=env,
        log_path=log_path,
        sinks=sinks[:1],
        tail_lines=settings.log_tail_lines,
    )


async def _run_trl(
    settings: TrainSettings,
    parquet: Path,
    init_model: Path,
    work_dir: Path,
    log_path: Path,
    sinks: list[Any],
    notice: Any = None,
) -> dict[str, Any]:
    python = settings.runtime_python()
    final_tmp = work_dir / f".{MODEL_DIR}.trl-tmp"
    shutil.rmtree(final_tmp, ignore_errors=True)
    job_path = work_dir / "trl_job.json"
    result_path = work_dir / "trl_worker_result.json"
    job = {
        "dataset": str(parquet),
        "model": str(init_model),
        "output_dir": str(work_dir / "checkpoints"),
        "final_dir": str(final_tmp),
        "result_path": str(result_path),
        "grpo": settings.grpo.model_dump(),
        "trl": settings.trl.model_dump(),
    }
    _atomic_write_json(job_path, job)
    argv = [str(python), "-m", "looptool.train.trl_worker", str(job_path)]
    env = subprocess_env(settings)
    write_rerun_script(work_dir / "train_command.sh", argv, env, work_dir)
    await stream_process(
        argv,
        what="TRL GRPO",
        env=env,
        cwd=work_dir,
        log_path=log_path,
        sinks=sinks,
        tail_lines=settings.log_tail_lines,
        notice=notice,
    )
    if not (final_tmp / "config.json").is_file():
        raise TrainerFailed(
            "TRL GRPO",
            0,
            [],
            f"bash {work_dir / 'train_command.sh'}",
            log_path,
            reason=f"exited 0 but saved no model in {final_tmp}",
        )
    model_dir = work_dir / MODEL_DIR
    shutil.rmtree(model_dir, ignore_errors=True)
    os.replace(final_tmp, model_dir)
    return {"trainer": json.loads(result_path.read_text())}


async def run_training(
    settings: TrainSettings,
    dataset: Path,
    init_model: Path,
    work_dir: Path,
    *,
    console: Any = None,
) -> TrainResult:
    """Train one iteration; return the HF model dir for probing. Idempotent per work dir.

    Raises PreflightError (nothing launched) or TrainerFailed (last log lines + re-run command).
    """
    dataset, init_model, work_dir = Path(dataset).resolve(), Path(init_model).resolve(), Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    log_path = work_dir / "train.log"
    model_dir = work_dir / MODEL_DIR
    result_file = work_dir / RESULT_FILE
    say = console_sink(console)
    if result_file.is_file() and (model_dir / "config.json").is_file():
        stored = json.loads(result_file.read_text())
        say(f"[train] {work_dir} already trained; using {model_dir}")
        release_stage_files(work_dir, settings, say)  # in case the run stopped right after recording
        return TrainResult(model_dir=model_dir, metrics=stored["metrics"], log_path=log_path)

    started = time.perf_counter()
    parquet, dataset_info = await _prepare_dataset(settings, dataset, init_model, work_dir, say)
    reward_file = write_reward_module(work_dir / REWARD_MODULE)
    say(
        f"[train] pre-flight: {settings.backend} backend, {parquet}, init model {init_model} "
        "(checks the layout, the data and the reward module in the trainer's runtime)"
    )
    checked = time.perf_counter()
    report = await anyio.to_thread.run_sync(
        lambda: run_preflight(
            settings,
            parquet,
            init_model,
            reward_file=reward_file,
            reward_name=REWARD_FUNCTION,
            check_lengths=not dataset_info["converted"],
        )
    )
    say(f"[train] pre-flight passed in {elapsed_text(time.perf_counter() - checked)}")
    if report.reward_reference_misses:
        say(
            f"[train] warning: the reward scores 0 on the reference answer of "
            f"{len(report.reward_reference_misses)} of {report.reward_checked} rows, e.g. "
            f"{report.reward_reference_misses[:5]}"
        )
    warm_start: dict[str, Any] | None = None
    grpo_init = init_model
    if settings.warm_start == "sft":
        from looptool.train.sft import run_sft

        sft = await run_sft(settings, dataset, init_model, work_dir, log_path=log_path, say=say)
        grpo_init, warm_start = sft.model_dir, sft.metrics
    collector = MetricsCollector(settings.backend, groups_per_step=settings.grpo.train_batch_size)
    sinks = [TrainerConsole(say, collector)]
    say(f"[train] GRPO ({settings.backend}) from {grpo_init}: starting the trainer")
    if settings.backend == "verl":
        extra = await _run_verl(settings, parquet, grpo_init, work_dir, reward_file, log_path, sinks, say)
    else:
        extra = await _run_trl(settings, parquet, grpo_init, work_dir, log_path, sinks, say)
    metrics: dict[str, Any] = {
        "backend": settings.backend,
        **collector.summary(),
        **extra,
        "dataset": dataset_info,
        "preflight": {
            "rows": report.rows,
            "max_prompt_tokens": report.max_prompt_tokens or dataset_info.get("max_prompt_tokens"),
            "reward_reference_misses": len(report.reward_reference_misses),
        },
        "init_model": str(init_model),
        "grpo_init_model": str(grpo_init),
        "warm_start": warm_start,
        "wall_s": time.perf_counter() - started,
    }
    metrics["warnings"] = [w for w in (zero_spread_warning(metrics),) if w]
    _atomic_write_json(result_file, {"model_dir": str(model_dir), "metrics": metrics})
    say(f"[train] done in {elapsed_text(metrics['wall_s'])}: {metrics['steps']} GRPO step(s) -> {model_dir}")
    for warning in metrics["warnings"]:
        console_sink(console, style="bold red")(f"[train] {warning}")
    release_stage_files(work_dir, settings, say)
    return TrainResult(model_dir=model_dir, metrics=metrics, log_path=log_path)
