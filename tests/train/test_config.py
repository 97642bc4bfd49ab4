"""TrainSettings: paper defaults, presets, and errors that name the key and the reason."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from looptool.train.config import VERL_PRESETS, TrainSettings


def test_defaults_are_paper_table_6():
    g = TrainSettings().grpo
    assert (g.learning_rate, g.train_batch_size, g.mini_batch_size, g.rollouts_per_prompt) == (1e-6, 128, 128, 16)
    assert (g.temperature, g.clip_ratio_low, g.clip_ratio_high) == (1.0, 0.2, 0.28)
    assert (g.kl_loss_coef, g.entropy_coeff) == (0.0, 0.0)
    assert (g.max_prompt_length, g.max_response_length, g.epochs) == (4096, 1024, 2)
    assert TrainSettings().backend == "verl"


@pytest.mark.parametrize("preset", sorted(VERL_PRESETS))
def test_presets_fill_layout_and_validate(preset):
    s = TrainSettings(verl={"preset": preset})
    for key, value in VERL_PRESETS[preset].items():
        assert getattr(s.verl, key) == value
    assert s.verl.n_gpus == VERL_PRESETS[preset]["nnodes"] * VERL_PRESETS[preset]["n_gpus_per_node"]


def test_explicit_value_beats_preset():
    s = TrainSettings(verl={"preset": "4x8gpu", "tensor_parallel_size": 4, "nnodes": 2})
    assert (s.verl.tensor_parallel_size, s.verl.nnodes, s.verl.n_gpus_per_node) == (4, 2, 8)


@pytest.mark.parametrize(
    "data, needle",
    [
        ({"verl": {"tensor_parallel_size": 3}}, "train.verl.tensor_parallel_size (3) must divide train.verl.n_gpus_per_node (8)"),
        ({"verl": {"n_gpus_per_node": 3, "tensor_parallel_size": 1}}, "divisible by the GPU count nnodes x n_gpus_per_node (3)"),
        ({"verl": {"ppo_micro_batch_size_per_gpu": 3}}, "train.verl.ppo_micro_batch_size_per_gpu (3) must divide the per-GPU mini-batch"),
        ({"grpo": {"train_batch_size": 100}}, "train_batch_size (100) must be a multiple of mini_batch_size (128)"),
        ({"backend": "trl", "trl": {"per_device_batch_size": 3}}, "train.trl.per_device_batch_size (3) must divide"),
        ({"verl": {"loggers": ["wandb"]}}, "must include 'console'"),
        ({"verl": {"extra_overrides": ["not an override"]}}, "is not a Hydra override"),
        ({"trl": {"extra_rewards": ["nomodule"]}}, "is not of the form 'package.module:function'"),
        ({"trl": {"extra_rewards": ["a.b:f"], "reward_weights": [1.0]}}, "expected 2 (ToolMatch + each of extra_rewards)"),
        ({"grpo": {"rollouts_per_prompt": 1}}, "greater than or equal to 2"),
    ],
)
def test_errors_name_key_and_reason(data, needle):
    with pytest.raises(ValidationError) as info:
        TrainSettings(**data)
    assert needle in str(info.value)


def test_unknown_keys_are_rejected_with_their_path():
    with pytest.raises(ValidationError) as info:
        TrainSettings(verl={"tensor_parallel": 2})
    assert "verl.tensor_parallel" in str(info.value) and "Extra inputs are not permitted" in str(info.value)


def test_trl_backend_ignores_verl_layout():
    # A CPU run must not be refused because of a GPU layout it does not use.
    s = TrainSettings(
        backend="trl",
        grpo={"train_batch_size": 2, "mini_batch_size": 2, "rollouts_per_prompt": 4},
        trl={"per_device_batch_size": 4},
        verl={"tensor_parallel_size": 3},
    )
    assert s.backend == "trl"
