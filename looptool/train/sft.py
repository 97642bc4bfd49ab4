"""The supervised warm start stage: SFT on the labels before GRPO, in the iteration's work dir.

    sft/sft.parquet      prompt + target per sample (looptool.train.sft_data)
    sft/sft_command.sh   the exact trainer command
    sft/checkpoints/     the trainer's checkpoints (resume after a crash; removed once GRPO is done)
    sft/model/           the warm-started HF model GRPO starts from (written atomically)
    sft/sft_result.json  the record; with it and model/ present the stage is skipped

Runs in the same trainer runtime as GRPO: TRL's SFTTrainer (looptool.train.sft_worker) on one
node or CPU, verl's SFT trainer under torchrun (looptool.train.verl_sft) on GPUs. Output lines go
to the same train.log as GRPO.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from looptool.train.config import TrainSettings
from looptool.train.metrics import MetricsCollector
from looptool.train.preflight import PreflightError
from looptool.train.process import TrainerFailed, elapsed_text, read_jsonl_samples, stream_process, subprocess_env, write_rerun_script
from looptool.train.sft_data import (
    SFTDataReport,
    examples_from_parquet,
    examples_from_samples,
    write_sft_parquet,
)
from looptool.train.tokencount import RuntimeTokenCounter

SFT_DIR = "sft"
SFT_RESULT = "sft_result.json"
MODEL_DIR = "model"


@dataclass
class SFTResult:
    model_dir: Path
    metrics: dict[str, Any]


def build_sft_dataset(settings: TrainSettings, source: Path, init_model: Path, target: Path) -> SFTDataReport:
    """Render, measure and write the SFT parquet (blocking: runs the tokenizer worker)."""

    skipped: list[str] = []
    examples = (
        examples_from_samples(read_jsonl_samples(source), skipped) if source.suffix == ".jsonl" else examples_from_parquet(source, skipped)
    )
    with RuntimeTokenCounter(settings.runtime_python(), init_model) as count:
        return write_sft_parquet(
            examples,
            target,
            max_length=settings.sft_max_length,
            max_answer_tokens=settings.grpo.max_response_length,
            count_prompt=count,
            count_full=count.full,
            skipped=skipped,
        )


def sft_data_problems(settings: TrainSettings, report: SFTDataReport) -> list[str]:
    if report.rows == 0:
        return [f"SFT dataset {report.path}: no usable rows ({report.summary()})"]
    if settings.backend == "verl" and report.rows < settings.sft.batch_size:
        return [
            f"SFT dataset {report.path}: {report.rows} rows, fewer than train.sft.batch_size "
            f"({settings.sft.batch_size}); verl drops the incomplete batch and would run zero steps"
        ]
    return []


def _env(settings: TrainSettings) -> dict[str, str]:

    return subprocess_env(settings)


async def run_sft(
    settings: TrainSettings,
    source: Path,
    init_model: Path,
    work_dir: Path,
    *,
    log_path: Path,
    say: Callable[[str], Any],
) -> SFTResult:
    """Warm-start `init_model` on `source` (StepSample JSONL or parquet); idempotent per work dir."""
    sft_dir = work_dir / SFT_DIR
    sft_dir.mkdir(parents=True, exist_ok=True)
    model_dir = sft_dir / MODEL_DIR
    result_file = sft_dir / SFT_RESULT
    if result_file.is_file() and (model_dir / "config.json").is_file():
        say(f"[train] SFT warm start finished earlier; GRPO starts from {model_dir}")
        return SFTResult(model_dir, json.loads(result_file.read_text()))

    started = time.perf_counter()
    source = Path(settings.sft.dataset or source)
    say(f"[train] SFT warm start: building its dataset from {source} (measuring with the policy tokenizer)")
    parquet = sft_dir / "sft.parquet"
    report = await anyio.to_thread.run_sync(lambda: build_sft_dataset(settings, source, init_model, parquet))
    say(f"[train] SFT dataset {parquet}: {report.summary()}")
    if report.answer_over_response_limit:
        shown = ", ".join(f"{i} ({n})" for i, n in report.answer_over_response_limit[:5])
        say(
            f"[train] warning: {len(report.answer_over_response_limit)} reference answer(s) are longer than "
            f"train.grpo.max_response_length ({settings.grpo.max_response_length} tokens), so GRPO rollouts of "
            f"them are cut before the answer can end: {shown}"
        )
    problems = sft_data_problems(settings, report)
    if problems:
        raise PreflightError(problems)

    collector = MetricsCollector(settings.backend, stage="sft")

    def show(line: str) -> None:
        row = collector.feed(line)
        say(collector.describe(row) if row is not None else line)

    python = settings.runtime_python()
    env = _env(settings)
    tmp_model = sft_dir / f".{MODEL_DIR}.sft-tmp"
    shutil.rmtree(tmp_model, ignore_errors=True)
    if settings.backend == "trl":
        job = {
            "dataset": str(parquet),
            "model": str(init_model),
            "output_dir": str(sft_dir / "checkpoints"),
            "final_dir": str(tmp_model),
            "result_path": str(sft_dir / "sft_worker_result.json"),
            "sft": settings.sft.model_dump(mode="json"),
            "trl": settings.trl.model_dump(),
            "max_length": settings.sft_max_length,
            "seed": settings.grpo.seed,
        }
        job_path = sft_dir / "sft_job.json"
        job_path.write_text(json.dumps(job, indent=2))
        argv = [str(python), "-m", "looptool.train.sft_worker", str(job_path)]
        what = "TRL SFT"
    else:
        from looptool.train.verl_sft import build_sft_overrides, sft_trainer_argv

        overrides = build_sft_overrides(
            settings,
            train_file=parquet,
            model_path=init_model,
            checkpoint_dir=sft_dir / "checkpoints",
            experiment_name=f"{settings.verl.experiment_name or work_dir.name}-sft",
        )
        argv = sft_trainer_argv(python, settings.verl.n_gpus_per_node, overrides)
        what = "verl SFT"
    write_rerun_script(sft_dir / "sft_command.sh", argv, env, sft_dir)
    say(f"[train] SFT warm start ({what}) from {init_model}; command: {sft_dir / 'sft_command.sh'}")
    await stream_process(
        argv, what=what, env=env, cwd=sft_dir, log_path=log_path, sinks=[show], tail_lines=settings.log_tail_lines, notice=say
    )
    if settings.backend == "trl":
        if not (tmp_model / "config.json").is_file():
            raise TrainerFailed(
                what, 0, [], f"bash {sft_dir / 'sft_command.sh'}", log_path, reason=f"exited 0 but saved no model in {tmp_model}"
            )
        shutil.rmtree(model_dir, ignore_errors=True)
        os.replace(tmp_model, model_dir)
        export: dict[str, Any] = {"trainer": json.loads((sft_dir / "sft_worker_result.json").read_text())}
    else:
        from looptool.train.verl_sft import export_sft_model

        export = await export_sft_model(
            python, sft_dir / "checkpoints", model_dir, env=env, log_path=log_path, sinks=[say], tail_lines=settings.log_tail_lines
        )
    metrics = {
        "backend": settings.backend,
        **collector.summary(),
        **export,
        "dataset": report.as_dict(),
        "init_model": str(init_model),
        "model_dir": str(model_dir),
        "wall_s": time.perf_counter() - started,
    }
    tmp_result = result_file.with_name(f".{result_file.name}.tmp")
    tmp_result.write_text(json.dumps(metrics, indent=2, default=str))
    os.replace(tmp_result, result_file)
    say(
        f"[train] SFT warm start done in {elapsed_text(metrics['wall_s'])}: {metrics['steps']} steps, loss "
        f"{_num(metrics['loss_first'])} -> {_num(metrics['loss'])}; GRPO starts from {model_dir}"
    )
    return SFTResult(model_dir, metrics)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
