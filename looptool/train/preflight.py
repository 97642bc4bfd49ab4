"""Checks made before a trainer is launched, so a bad run fails in seconds, not in a GPU worker.

Two layers:
- `layout_problems(settings)`: pure arithmetic on the config (batch sizes divide, tensor-parallel
  size fits the GPUs). It runs at config load (TrainSettings validator) and again here. These are
  the rules verl checks in `validate_config` plus the ones it only asserts inside Ray workers
  (rollout TP vs GPUs, mini-batch vs micro-batch per GPU; notes/cpu_rl.md §1c row 15).
- `run_preflight(...)`: the files and the runtime: interpreter present, parquet readable with the
  contract's columns and enough rows for one step, model directory complete, every prompt within
  `max_prompt_length` under the policy tokenizer, and the reward module importable in the runtime
  env and scoring the reference answers (rendered labels) as matches; for single-node verl, the
  GPUs the layout asks for are visible.

All problems are collected and raised together as one `PreflightError`, each naming the key or
file and the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from looptool.errors import InputError
from looptool.train.parquet import count_rows, iter_prompts, parquet_problems
from looptool.train.tokencount import RuntimeTokenCounter, TokenCountError, looptool_pythonpath

if TYPE_CHECKING:
    from looptool.train.config import TrainSettings


class PreflightError(InputError, ValueError):
    """The run cannot start; `problems` lists every reason found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("trainer pre-flight failed:\n  - " + "\n  - ".join(problems))


@dataclass
class PreflightReport:
    rows: int = 0
    max_prompt_tokens: int = 0
    reward_checked: int = 0
    reward_reference_misses: list[str] = field(default_factory=list)


def layout_problems(settings: TrainSettings) -> list[str]:
    """Config-only rules for the chosen backend; each message names the keys involved."""
    g = settings.grpo
    problems: list[str] = []
    completions = g.train_batch_size * g.rollouts_per_prompt
    mini_completions = g.mini_batch_size * g.rollouts_per_prompt
    if settings.backend == "verl":
        v = settings.verl
        n_gpus = v.n_gpus
        if v.n_gpus_per_node % v.tensor_parallel_size:
            problems.append(
                f"train.verl.tensor_parallel_size ({v.tensor_parallel_size}) must divide "
                f"train.verl.n_gpus_per_node ({v.n_gpus_per_node}): a vLLM rollout replica "
                "cannot span a partial node"
            )
        if completions % n_gpus:
            problems.append(
                f"train.grpo.train_batch_size x rollouts_per_prompt ({completions}) must be "
                f"divisible by the GPU count nnodes x n_gpus_per_node ({n_gpus})"
            )
        if mini_completions % n_gpus:
            problems.append(
                f"train.grpo.mini_batch_size x rollouts_per_prompt ({mini_completions}) must be divisible by the GPU count ({n_gpus})"
            )
        else:
            per_gpu = mini_completions // n_gpus
            if per_gpu % v.ppo_micro_batch_size_per_gpu:
                problems.append(
                    f"train.verl.ppo_micro_batch_size_per_gpu ({v.ppo_micro_batch_size_per_gpu}) "
                    f"must divide the per-GPU mini-batch ({mini_completions} completions / "
                    f"{n_gpus} GPUs = {per_gpu})"
                )
    else:
        t = settings.trl
        for name, total in (("train_batch_size", completions), ("mini_batch_size", mini_completions)):
            if total % t.per_device_batch_size:
                problems.append(
                    f"train.trl.per_device_batch_size ({t.per_device_batch_size}) must divide "
                    f"train.grpo.{name} x rollouts_per_prompt ({total})"
                )
    return problems


def model_dir_problems(model_dir: Path, what: str = "init model") -> list[str]:
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return [f"{what} {model_dir}: directory not found"]
    problems = []
    if not (model_dir / "config.json").is_file():
        problems.append(f"{what} {model_dir}: config.json missing (not a Hugging Face model dir)")
    if not any((model_dir / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json")):
        problems.append(f"{what} {model_dir}: no tokenizer (tokenizer.json / tokenizer_config.json)")
    if not any(model_dir.glob("*.safetensors")) and not any(model_dir.glob("*.bin")):
        problems.append(f"{what} {model_dir}: no weights (*.safetensors / *.bin)")
    return problems


def _prompt_length_problems(python: Path, model_dir: Path, dataset: Path, limit: int, report: PreflightReport) -> list[str]:
    over: list[tuple[str, int]] = []
    try:
        with RuntimeTokenCounter(python, model_dir) as count:
            for ids, prompts in iter_prompts(dataset):
                for sample_id, n in zip(ids, count(prompts)):
                    report.max_prompt_tokens = max(report.max_prompt_tokens, n)
                    if n > limit:
                        over.append((sample_id, n))
    except TokenCountError as exc:
        return [f"prompt lengths could not be measured: {exc}"]
    if not over:
        return []
    shown = ", ".join(f"{i} ({n} tokens)" for i, n in over[:5])
    return [
        f"dataset {dataset}: {len(over)} prompt(s) longer than train.grpo.max_prompt_length "
        f"({limit}): {shown}{' ...' if len(over) > 5 else ''}; rewrite the parquet with "
        "write_verl_parquet(max_prompt_tokens=...) to filter them"
    ]


def reward_check(python: Path, reward_file: Path, reward_name: str, dataset: Path) -> dict:
    """Import the reward module in the runtime env and score each row's reference answer."""
    env = {
        **os.environ,
        "PYTHONPATH": looptool_pythonpath(os.environ.get("PYTHONPATH")),
        "HF_HUB_OFFLINE": "1",
    }
    proc = subprocess.run(
        [str(python), "-m", "looptool.train.reward_check", str(reward_file), reward_name, str(dataset)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-10:])
        return {"ok": False, "error": f"exit {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


def local_gpu_problems(python: Path, settings: TrainSettings) -> list[str]:
    """Single-node verl runs need their GPUs on this machine; say so instead of letting Ray wait.

    Without GPUs verl's resource-pool check fails only after Ray and TransferQueue start, and with
    few CPUs TransferQueue's storage actors can hang instead (notes/cpu_rl.md §1c). Multi-node
    layouts are not checked: the driver need not hold GPUs itself.
    """
    if settings.backend != "verl" or settings.verl.nnodes != 1:
        return []
    proc = subprocess.run(
        [str(python), "-c", "import torch; print(torch.cuda.device_count())"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    found = proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 and proc.stdout.strip() else None
    if found is None or not found.isdigit():
        return [f"train.python {python}: could not count CUDA devices ({proc.stderr.strip()[-300:]})"]
    if int(found) < settings.verl.n_gpus_per_node:
        return [
            f"train.verl.n_gpus_per_node is {settings.verl.n_gpus_per_node} but {python} sees "
            f"{found} CUDA device(s) on this machine; verl cannot train without them (use "
            "backend = 'trl' on CPU)"
        ]
    return []


def run_preflight(
    settings: TrainSettings,
    dataset: Path,
    init_model: Path,
    *,
    reward_file: Path | None = None,
    reward_name: str = "compute_score",
    check_lengths: bool = True,
) -> PreflightReport:
    """Every check that can be made before launch; raises PreflightError listing all failures."""
    report = PreflightReport()
    problems = list(layout_problems(settings))
    python = settings.runtime_python()
    python_ok = Path(python).is_file() and os.access(python, os.X_OK)
    if not python_ok:
        problems.append(
            f"train.python: {settings.backend} runtime interpreter {python} not found; build it with scripts/setup_{settings.backend}.sh"
        )
    data_problems = parquet_problems(dataset)
    problems += data_problems
    model_problems = model_dir_problems(init_model)
    problems += model_problems
    if not data_problems:
        report.rows = count_rows(dataset)
        if report.rows < settings.grpo.train_batch_size:
            problems.append(
                f"dataset {dataset}: {report.rows} rows, fewer than train.grpo.train_batch_size "
                f"({settings.grpo.train_batch_size}); the trainer would run zero steps"
            )
    if python_ok:
        problems += local_gpu_problems(python, settings)
    if python_ok and not data_problems and not model_problems and check_lengths:
        problems += _prompt_length_problems(python, init_model, dataset, settings.grpo.max_prompt_length, report)
    if python_ok and not data_problems and reward_file is not None:
        result = reward_check(python, reward_file, reward_name, dataset)
        if not result.get("ok"):
            problems.append(f"reward module {reward_file} ({reward_name}): {result.get('error')}")
        else:
            report.reward_checked = int(result["rows"])
            report.reward_reference_misses = list(result["reference_misses"])
            if report.reward_checked and len(report.reward_reference_misses) == report.reward_checked:
                problems.append(
                    f"reward module {reward_file}: scored 0 on the reference answer of every row "
                    f"({report.reward_checked}); labels and reward disagree systematically"
                )
    if problems:
        raise PreflightError(problems)
    return report
