"""The supervised warm start on GPUs: verl 0.9.1's SFT trainer, launched with torchrun.

verl 0.9.1 has one SFT entry point, `verl.trainer.sft_trainer` (Hydra config `sft_trainer_engine`:
FSDP engine, `MultiTurnSFTDataset`, loss on assistant turns only), started as
`python -m torch.distributed.run --standalone --nnodes 1 --nproc-per-node N -m verl.trainer.sft_trainer
<overrides>` (torch.distributed.run is the module behind the `torchrun` script). It runs on one
node of the configured layout: a short warm start does not need the GRPO cluster, and a
multi-node torchrun would need a launcher on every node.

Data: the SFT parquet of looptool.train.sft_data, read through its `messages` column (the GRPO
prompt + the target as one assistant message). Checkpoints go to the work dir with
`resume_mode=auto` (a crash resumes); `hf_model` is in `save_contents`, so the newest
`global_step_N/huggingface` is the warm-started model (else verl's model merger converts the
shards). Verified on CPU with verl's own code (tests/train/test_verl_sft.py): config composition
and the dataclasses SFTTrainer builds, the `--cfg job` CLI on our exact argv, and the dataset's
tokens and loss mask on our parquet. Not verified: a real SFT step (needs GPUs).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from looptool.train.config import TrainSettings
from looptool.train.process import LineSink, TrainerFailed, stream_process
from looptool.train.verl_backend import hydra_value, link_or_copy_tree

SFT_MODULE = "verl.trainer.sft_trainer"
TRACKER = "latest_checkpointed_iteration.txt"


def build_sft_overrides(
    settings: TrainSettings,
    *,
    train_file: Path,
    model_path: Path,
    checkpoint_dir: Path,
    experiment_name: str,
) -> list[str]:
    """Hydra overrides of `sft_trainer_engine` from `[train.sft]` and the verl layout."""
    s, v = settings.sft, settings.verl
    pairs: list[tuple[str, Any]] = [
        ("data.train_files", str(train_file)),
        ("data.val_files", None),
        ("data.messages_key", "messages"),
        ("data.train_batch_size", s.batch_size),
        ("data.micro_batch_size_per_gpu", s.micro_batch_size),
        ("data.use_dynamic_bsz", False),
        ("data.max_length", settings.sft_max_length),
        ("data.truncation", "error"),
        ("model.path", str(model_path)),
        ("model.enable_gradient_checkpointing", v.gradient_checkpointing),
        ("model.use_remove_padding", v.use_remove_padding),
        ("optim.lr", s.learning_rate),
        ("optim.lr_scheduler_type", "constant"),
        ("optim.lr_warmup_steps_ratio", 0.0),
        ("optim.weight_decay", 0.01),
        ("optim.clip_grad", 1.0),
        ("engine.param_offload", v.param_offload),
        ("engine.optimizer_offload", v.optimizer_offload),
        ("checkpoint.save_contents", ["model", "optimizer", "extra", "hf_model"]),
        ("trainer.default_local_dir", str(checkpoint_dir)),
        ("trainer.project_name", v.project_name),
        ("trainer.experiment_name", experiment_name),
        ("trainer.total_epochs", s.epochs),
        ("trainer.logger", list(v.loggers)),
        ("trainer.seed", settings.grpo.seed),
        ("trainer.save_freq", s.save_freq),
        ("trainer.test_freq", -1),
        ("trainer.max_ckpt_to_keep", 1),
        ("trainer.resume_mode", "auto"),
        ("trainer.nnodes", 1),
        ("trainer.n_gpus_per_node", v.n_gpus_per_node),
    ]
    if s.max_steps is not None:
        pairs.append(("trainer.total_training_steps", s.max_steps))
    return [f"{key}={hydra_value(value)}" for key, value in pairs]


def sft_trainer_argv(python: Path, n_gpus: int, overrides: Sequence[str]) -> list[str]:
    return [
        str(python),
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes",
        "1",
        "--nproc-per-node",
        str(n_gpus),
        "-m",
        SFT_MODULE,
        *overrides,
    ]


def latest_sft_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The newest `global_step_N` of a verl SFT run (tracker file first, else the largest N)."""
    checkpoint_dir = Path(checkpoint_dir)
    tracker = checkpoint_dir / TRACKER
    if tracker.is_file():
        text = tracker.read_text().strip()
        if text.isdigit() and (checkpoint_dir / f"global_step_{text}").is_dir():
            return checkpoint_dir / f"global_step_{text}"
    steps = [
        (int(p.name.removeprefix("global_step_")), p)
        for p in checkpoint_dir.glob("global_step_*")
        if p.name.removeprefix("global_step_").isdigit()
    ]
    return max(steps)[1] if steps else None


async def export_sft_model(
    python: Path,
    checkpoint_dir: Path,
    model_dir: Path,
    *,
    env: Mapping[str, str],
    log_path: Path,
    sinks: Sequence[LineSink] = (),
    tail_lines: int = 40,
) -> dict[str, str]:
    """The newest SFT checkpoint as an HF dir at `model_dir` (atomically)."""
    step_dir = latest_sft_checkpoint(checkpoint_dir)
    if step_dir is None:
        raise TrainerFailed(
            "verl SFT export", 0, [], f"ls {checkpoint_dir}", log_path, reason=f"no global_step_N checkpoint under {checkpoint_dir}"
        )
    hf = step_dir / "huggingface"
    if (hf / "config.json").is_file() and (any(hf.glob("*.safetensors")) or any(hf.glob("*.bin"))):
        link_or_copy_tree(hf, model_dir)
        return {"checkpoint": str(step_dir), "export": "saved_hf_weights"}
    tmp = model_dir.with_name(f".{model_dir.name}.merge-tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    argv = [str(python), "-m", "verl.model_merger", "merge", "--backend", "fsdp", "--local_dir", str(step_dir), "--target_dir", str(tmp)]
    await stream_process(
        argv, what="verl model_merger (SFT)", env=env, cwd=model_dir.parent, log_path=log_path, sinks=sinks, tail_lines=tail_lines
    )
    if not (tmp / "config.json").is_file():
        raise TrainerFailed(
            "verl model_merger (SFT)", 0, [], " ".join(argv), log_path, reason=f"exited 0 but wrote no config.json into {tmp}"
        )
    shutil.rmtree(model_dir, ignore_errors=True)
    os.replace(tmp, model_dir)
    return {"checkpoint": str(step_dir), "export": "model_merger"}
