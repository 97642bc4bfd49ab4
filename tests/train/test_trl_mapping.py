"""GRPO settings -> TRL GRPOConfig kwargs (the one place verl semantics are mapped onto TRL)."""

from __future__ import annotations

import sys

from looptool.train.config import TrainSettings
from looptool.train.trl_worker import grpo_config_kwargs


def _job(**grpo):
    s = TrainSettings(backend="trl", grpo=grpo, trl={"per_device_batch_size": 8})
    return {"output_dir": "/o", "grpo": s.grpo.model_dump(), "trl": s.trl.model_dump()}


def test_paper_defaults_map_to_trl():
    k = grpo_config_kwargs(_job())
    assert k["num_generations"] == 16 and k["per_device_train_batch_size"] == 8
    assert k["steps_per_generation"] == 128 * 16 // 8  # one generation batch = one verl step
    assert k["gradient_accumulation_steps"] == 128 * 16 // 8  # mini-batch = batch: one update per step
    assert (k["epsilon"], k["epsilon_high"], k["beta"], k["entropy_coef"]) == (0.2, 0.28, 0.0, 0.0)
    assert (k["learning_rate"], k["num_train_epochs"], k["max_completion_length"]) == (1e-6, 2, 1024)
    assert k["loss_type"] == "dapo" and k["scale_rewards"] == "group" and k["num_iterations"] == 1
    assert k["save_total_limit"] == 2 and "max_steps" not in k and "gradient_checkpointing" not in k


def test_mini_batches_become_optimizer_steps():
    k = grpo_config_kwargs(_job(train_batch_size=64, mini_batch_size=16, max_steps=3, save_freq=2))
    assert k["gradient_accumulation_steps"] == 16 * 16 // 8 and k["steps_per_generation"] == 64 * 16 // 8
    assert k["max_steps"] == 3 * 4 and k["save_steps"] == 2 * 4  # 4 updates per verl step


def test_worker_module_imports_no_heavy_packages():
    heavy = {"torch", "trl", "transformers", "verl"}
    assert not heavy & {m.split(".")[0] for m in sys.modules}
