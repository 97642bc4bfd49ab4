"""Supervised warm start with TRL's SFTTrainer, run in the TRL runtime env:
`python -m looptool.train.sft_worker JOB.json`.

Stdlib at import time (like trl_worker), so the orchestrator can import `sft_config_kwargs`.

Mapping of `[train.sft]` onto TRL: one optimizer step = `batch_size` samples (gradient
accumulation of `micro_batch_size` chunks on one device), constant learning rate, AdamW with
weight decay 0.01 and gradient clipping 1.0 (verl's SFT optimizer defaults, so both backends
train the same way). The dataset is the prompt-completion parquet of looptool.train.sft_data;
`completion_only_loss` puts the loss on the answer only. Sequences were measured and filtered
before (never truncated here), so `max_length` is only a guard. The worker resumes from the
newest `checkpoint-N` of its output dir.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from looptool.train.trl_common import Phases, latest_checkpoint, metrics_callback, peak_rss_mb, quiet


def sft_config_kwargs(job: dict[str, Any]) -> dict[str, Any]:
    """SFTConfig keyword arguments for a job (pure: unit-testable without TRL)."""
    s, t = job["sft"], job["trl"]
    kwargs: dict[str, Any] = {
        "output_dir": job["output_dir"],
        "learning_rate": s["learning_rate"],
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        "weight_decay": 0.01,
        "max_grad_norm": 1.0,
        "per_device_train_batch_size": s["micro_batch_size"],
        "gradient_accumulation_steps": s["batch_size"] // s["micro_batch_size"],
        "num_train_epochs": s["epochs"],
        "max_length": job["max_length"],
        "completion_only_loss": True,
        "packing": False,
        "seed": job.get("seed", 0),
        "logging_steps": 1,
        "save_strategy": "steps",
        "save_steps": s["save_freq"],
        "save_total_limit": 1,
        "report_to": "none",
        "use_cpu": t["device"] == "cpu",
        "bf16": t["dtype"] == "bfloat16",
        "disable_tqdm": True,
    }
    if t["gradient_checkpointing"]:
        kwargs["gradient_checkpointing"] = True
    if s.get("max_steps"):
        kwargs["max_steps"] = s["max_steps"]
    return kwargs


def run(job: dict[str, Any]) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    phases = Phases("sft_worker")
    phases.say("importing torch, transformers and trl")
    import torch
    from datasets import load_dataset
    from datasets.utils.logging import disable_progress_bar
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    disable_progress_bar()
    started = time.perf_counter()
    output_dir = Path(job["output_dir"])
    output_dir.mkdir(parents=True, exist_ok=True)
    phases.say(f"loading the model from {job['model']}")
    dtype = torch.bfloat16 if job["trl"]["dtype"] == "bfloat16" else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(job["model"])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(job["model"], dtype=dtype)
    dataset = load_dataset(
        "parquet", data_files=job["dataset"], split="train", cache_dir=str(output_dir / ".datasets_cache")
    ).select_columns(["prompt", "completion"])
    callback = metrics_callback()
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(**sft_config_kwargs(job)),
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[callback],
    )
    quiet(trainer)
    resume = latest_checkpoint(output_dir)
    if resume is not None:
        phases.say(f"resuming from {resume}")
    s = job["sft"]
    phases.say(f"SFT on {len(dataset)} examples, {s['batch_size']} per step, loss on the answer only")
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    final_dir = Path(job["final_dir"])
    phases.say(f"saving the warm-started model to {final_dir}")
    trainer.save_model(str(final_dir))
    tokenizer.save_pretrained(str(final_dir))
    return {
        "global_step": trainer.state.global_step,
        "resumed_from": str(resume) if resume else None,
        "examples": len(dataset),
        "step_times_s": callback.step_times,
        "peak_rss_mb": peak_rss_mb(),
        "wall_s": time.perf_counter() - started,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    job = json.loads(Path(argv[0]).read_text())
    result = run(job)
    Path(job["result_path"]).write_text(json.dumps(result, indent=2))
    print(
        f"[sft_worker] done: {result['global_step']} optimizer step(s) in {result['wall_s']:.1f} s, "
        f"peak RSS {result['peak_rss_mb']:.0f} MB",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
