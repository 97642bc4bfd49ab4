"""GRPO with TRL, run inside the TRL runtime env: `python -m looptool.train.trl_worker JOB.json`.

Stdlib at import time (torch, transformers and trl are imported in `main`), so the package stays
importable by the orchestrator; only the TRL interpreter ever executes it.

Why this shape: the TRL backend must read the same parquet and score with the same ToolMatch
reward as verl, so GRPO's semantics are mapped onto TRL's knobs here, once:
  verl step (train_batch_size prompts x n rollouts, split into mini-batches)
    -> TRL generation batch of train_batch_size x n completions (steps_per_generation), with one
       optimizer step per mini-batch (gradient accumulation of per_device_batch_size chunks);
  clip low/high -> epsilon/epsilon_high; KL coef -> beta; token-mean loss -> loss_type "dapo";
  group std normalisation -> scale_rewards "group"; constant lr, weight decay 0.01 as verl.
Progress is printed as `LOOPTOOL_METRICS {json}` lines (parsed by looptool.train.metrics); the
worker resumes from the newest `checkpoint-N` in its output dir, so a re-run continues.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from looptool.train.trl_common import Phases, latest_checkpoint, metrics_callback, peak_rss_mb, quiet


class _CountedReward:
    """Wraps a reward function to count calls and completions scored (reported in metrics)."""

    def __init__(self, name: str, fn: Any) -> None:
        self.__name__ = name
        self.fn = fn
        self.calls = 0
        self.completions = 0

    def __call__(self, prompts: list, completions: list, **kwargs: Any) -> list[float]:
        self.calls += 1
        self.completions += len(completions)
        scores = self.fn(prompts=prompts, completions=completions, **kwargs)
        if len(scores) != len(completions):
            raise RuntimeError(f"reward {self.__name__} returned {len(scores)} scores for {len(completions)} completions")
        return [None if s is None else float(s) for s in scores]


def _load_ref(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def grpo_config_kwargs(job: dict[str, Any]) -> dict[str, Any]:
    """GRPOConfig keyword arguments for a job (pure: unit-testable without TRL)."""
    g, t = job["grpo"], job["trl"]
    n = g["rollouts_per_prompt"]
    per_device = t["per_device_batch_size"]
    updates_per_batch = g["train_batch_size"] // g["mini_batch_size"]
    kwargs: dict[str, Any] = {
        "output_dir": job["output_dir"],
        "learning_rate": g["learning_rate"],
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        "weight_decay": 0.01,
        "max_grad_norm": 1.0,
        "per_device_train_batch_size": per_device,
        "gradient_accumulation_steps": g["mini_batch_size"] * n // per_device,
        "steps_per_generation": g["train_batch_size"] * n // per_device,
        "num_generations": n,
        "num_iterations": 1,
        "temperature": g["temperature"],
        "top_p": g["top_p"],
        "max_completion_length": g["max_response_length"],
        "beta": g["kl_loss_coef"],
        "epsilon": g["clip_ratio_low"],
        "epsilon_high": g["clip_ratio_high"],
        "entropy_coef": g["entropy_coeff"],
        "loss_type": "dapo",
        "scale_rewards": "group",
        "num_train_epochs": g["epochs"],
        "seed": g["seed"],
        "logging_steps": t["logging_steps"],
        "save_strategy": "steps",
        "save_steps": g["save_freq"] * updates_per_batch,
        "save_total_limit": g["keep_checkpoints"],
        "report_to": "none",
        "use_cpu": t["device"] == "cpu",
        "bf16": t["dtype"] == "bfloat16",
        "remove_unused_columns": False,
        "disable_tqdm": True,
    }
    if t["gradient_checkpointing"]:  # only when asked: passing False still triggers a deprecation warning
        kwargs["gradient_checkpointing"] = True
    if g.get("max_steps"):
        kwargs["max_steps"] = g["max_steps"] * updates_per_batch
    if t.get("reward_weights") is not None:
        kwargs["reward_weights"] = t["reward_weights"]
    return kwargs


def run(job: dict[str, Any]) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    phases = Phases("trl_worker")
    phases.say("importing torch, transformers and trl")
    import torch
    from datasets import load_dataset
    from datasets.utils.logging import disable_progress_bar
    from trl import GRPOConfig, GRPOTrainer

    from looptool.tools.reward import trl_reward

    disable_progress_bar()
    started = time.perf_counter()
    output_dir = Path(job["output_dir"])
    output_dir.mkdir(parents=True, exist_ok=True)
    rewards = [_CountedReward("toolmatch", trl_reward)]
    for ref in job["trl"].get("extra_rewards", []):
        rewards.append(_CountedReward(ref.rsplit(":", 1)[1], _load_ref(ref)))

    def reward_counts() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for r in rewards:
            out[f"reward_calls/{r.__name__}"] = r.calls
            out[f"reward_completions/{r.__name__}"] = r.completions
        return out

    phases.say(f"loading the policy from {job['model']}")
    dtype = torch.bfloat16 if job["trl"]["dtype"] == "bfloat16" else torch.float32
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(job["model"])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(job["model"], dtype=dtype)
    dataset = load_dataset(
        "parquet",
        data_files=job["dataset"],
        split="train",
        cache_dir=str(output_dir / ".datasets_cache"),
    )
    callback = metrics_callback(reward_counts)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=rewards,
        args=GRPOConfig(**grpo_config_kwargs(job)),
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[callback],
    )
    quiet(trainer)
    resume = latest_checkpoint(output_dir)
    if resume is not None:
        phases.say(f"resuming from {resume}")
    g = job["grpo"]
    phases.say(
        f"GRPO on {len(dataset)} prompts: {g['train_batch_size']} prompts x {g['rollouts_per_prompt']} rollouts "
        f"per step (each step generates, scores, then updates)"
    )
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    final_dir = Path(job["final_dir"])
    phases.say(f"saving the model to {final_dir}")
    trainer.save_model(str(final_dir))
    tokenizer.save_pretrained(str(final_dir))
    return {
        "global_step": trainer.state.global_step,
        "resumed_from": str(resume) if resume else None,
        "reward_calls": {r.__name__: r.calls for r in rewards},
        "reward_completions": {r.__name__: r.completions for r in rewards},
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
        f"[trl_worker] done: {result['global_step']} optimizer step(s) in {result['wall_s']:.1f} s, "
        f"peak RSS {result['peak_rss_mb']:.0f} MB (details: {job['result_path']})",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
