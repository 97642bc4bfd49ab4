"""Typed settings of the trainer stage (the `[train]` table of the run config).

Why one model for both backends: the GRPO hyper-parameters (paper Table 6) are the same whether
verl runs them on a GPU cluster or TRL on one CPU node; only the resource layout differs. So the
shared knobs live in `GRPOSettings`, and `VerlSettings` / `TrlSettings` hold what is specific to
each trainer. Hardware layouts are presets (`8gpu`, `4x8gpu`): a preset fills the resource
fields the user did not set, and anything set explicitly wins. The presets use Table 6's rollout
memory share (0.7); their parallelism is our choice (the paper gives hyper-parameters only).

Cross-field rules that would otherwise only fail hours later inside a GPU worker (batch sizes that
do not divide, tensor-parallel size vs GPU count) are checked here, at config load, by the same
functions the pre-flight uses (`looptool.train.preflight.layout_problems`). Every error names the
key (`train.grpo.train_batch_size`, ...) and the reason.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Backend = Literal["verl", "trl"]
VerlPreset = Literal["8gpu", "4x8gpu"]
WarmStart = Literal["none", "sft"]

# Resource layouts for the reference hardware. These are our choices for Qwen-class 7-8B
# (one node of 8 GPUs) and 32B (4 nodes x 8 GPUs) policies; the paper gives hyper-parameters, not
# parallelism. Rollout TP is the vLLM tensor-parallel size of one rollout replica.
VERL_PRESETS: dict[str, dict[str, Any]] = {
    "8gpu": {
        "nnodes": 1,
        "n_gpus_per_node": 8,
        "tensor_parallel_size": 2,
        "gpu_memory_utilization": 0.7,
        "ppo_micro_batch_size_per_gpu": 4,
        "log_prob_micro_batch_size_per_gpu": 8,
        "param_offload": False,
        "optimizer_offload": False,
    },
    "4x8gpu": {
        "nnodes": 4,
        "n_gpus_per_node": 8,
        "tensor_parallel_size": 8,
        "gpu_memory_utilization": 0.7,
        "ppo_micro_batch_size_per_gpu": 1,
        "log_prob_micro_batch_size_per_gpu": 4,
        "param_offload": True,
        "optimizer_offload": True,
    },
}

_OVERRIDE_RE = re.compile(r"^[+~]{0,2}[A-Za-z_][\w.]*=.*$", re.S)


class GRPOSettings(BaseModel):
    """GRPO hyper-parameters shared by both backends; defaults are the paper's Table 6."""

    model_config = ConfigDict(extra="forbid")

    learning_rate: float = Field(1e-6, gt=0)
    train_batch_size: int = Field(128, ge=1, description="prompts per training step")
    mini_batch_size: int = Field(
        128,
        ge=1,
        description='prompts per optimizer update: Table 6 "rollout mini batch size" (verl actor.ppo_mini_batch_size, in prompts; '
        "verl multiplies it by the rollout count itself)",
    )
    rollouts_per_prompt: int = Field(16, ge=2, description="GRPO group size")
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    clip_ratio_low: float = Field(0.2, ge=0)
    clip_ratio_high: float = Field(0.28, ge=0)
    kl_loss_coef: float = Field(0.0, ge=0, description="0 disables the KL loss (paper)")
    entropy_coeff: float = Field(0.0, ge=0)
    max_prompt_length: int = Field(4096, ge=1)
    max_response_length: int = Field(1024, ge=1)
    epochs: int = Field(2, ge=1, description="passes over the iteration's dataset")
    max_steps: int | None = Field(None, ge=1, description="stop after this many steps")
    save_freq: int = Field(50, ge=1, description="steps between trainer checkpoints")
    keep_checkpoints: int = Field(2, ge=1, description="newest trainer checkpoints kept (resume needs one; each holds optimizer state)")
    seed: int = 0

    @model_validator(mode="after")
    def _batches_divide(self) -> GRPOSettings:
        if self.train_batch_size % self.mini_batch_size:
            raise ValueError(f"train_batch_size ({self.train_batch_size}) must be a multiple of mini_batch_size ({self.mini_batch_size})")
        return self


class VerlSettings(BaseModel):
    """verl-specific knobs: cluster layout, rollout engine, checkpoint contents, escape hatch."""

    model_config = ConfigDict(extra="forbid")

    preset: VerlPreset = "8gpu"
    nnodes: int = Field(ge=1)
    n_gpus_per_node: int = Field(ge=1)
    rollout_engine: Literal["vllm", "sglang"] = "vllm"
    tensor_parallel_size: int = Field(ge=1)
    gpu_memory_utilization: float = Field(gt=0, le=1)
    ppo_micro_batch_size_per_gpu: int = Field(ge=1)
    log_prob_micro_batch_size_per_gpu: int = Field(ge=1)
    param_offload: bool
    optimizer_offload: bool
    gradient_checkpointing: bool = True
    use_remove_padding: bool = True
    ray_num_cpus: int | None = Field(None, ge=1)
    save_hf_model: bool = Field(True, description="also save HF weights in each checkpoint (no merge step needed)")
    # Paper Table 6: save and validate once per epoch, validation batch 128. verl counts both in
    # steps, so the launch turns "once per epoch" into (training rows // train_batch_size) steps.
    save_per_epoch: bool = Field(True, description="checkpoint once per epoch (Table 6); false: every train.grpo.save_freq steps")
    validate_per_epoch: bool = Field(True, description="validate once per epoch (Table 6); false: no validation")
    val_file: Path | None = Field(None, description="validation parquet (verl format); default: the iteration's training file")
    val_batch_size: int = Field(128, ge=1, description="prompts per validation batch (Table 6)")
    project_name: str = "looptool"
    experiment_name: str | None = None
    loggers: list[str] = Field(default_factory=lambda: ["console"])
    extra_overrides: list[str] = Field(default_factory=list, description="raw Hydra overrides appended last (key=value)")

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        preset = data.get("preset", "8gpu")
        if preset not in VERL_PRESETS:
            return data  # the Literal check reports it with the key name
        return {**VERL_PRESETS[preset], **data}

    @field_validator("loggers")
    @classmethod
    def _console_logger(cls, value: list[str]) -> list[str]:
        if "console" not in value:
            raise ValueError("must include 'console': the engine parses metrics from the console log")
        return value

    @field_validator("extra_overrides")
    @classmethod
    def _override_syntax(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _OVERRIDE_RE.match(item):
                raise ValueError(f"{item!r} is not a Hydra override of the form key=value")
        return value

    @property
    def n_gpus(self) -> int:
        return self.nnodes * self.n_gpus_per_node


class TrlSettings(BaseModel):
    """TRL-specific knobs for single-node training (CPU or one GPU)."""

    model_config = ConfigDict(extra="forbid")

    device: Literal["cpu", "auto"] = "cpu"
    per_device_batch_size: int = Field(8, ge=1, description="completions per forward/backward micro-step")
    dtype: Literal["float32", "bfloat16"] = "float32"
    gradient_checkpointing: bool = False
    extra_rewards: list[str] = Field(
        default_factory=list,
        description="additional reward functions as 'module:function' (shaping, debugging)",
    )
    reward_weights: list[float] | None = None
    logging_steps: int = Field(1, ge=1)

    @field_validator("extra_rewards")
    @classmethod
    def _reward_refs(cls, value: list[str]) -> list[str]:
        for ref in value:
            module, _, func = ref.partition(":")
            if not module or not func or not all(p.isidentifier() for p in module.split(".")):
                raise ValueError(f"{ref!r} is not of the form 'package.module:function'")
            if not func.isidentifier():
                raise ValueError(f"{ref!r}: {func!r} is not a function name")
        return value

    @model_validator(mode="after")
    def _weights_match(self) -> TrlSettings:
        if self.reward_weights is not None and len(self.reward_weights) != 1 + len(self.extra_rewards):
            raise ValueError(
                f"reward_weights has {len(self.reward_weights)} entries; expected "
                f"{1 + len(self.extra_rewards)} (ToolMatch + each of extra_rewards)"
            )
        return self


class SFTSettings(BaseModel):
    """Supervised warm start before GRPO (`train.warm_start = "sft"`).

    Why it exists: GRPO learns only from groups whose rollouts get different rewards. A policy
    that never produces a matching call (a small model on a new format) gives every group the
    same reward 0, hence zero advantages and zero gradient: GRPO cannot start. A short SFT on the
    labels, rendered exactly as the policy must answer, puts some probability on the right answer
    so groups have spread. Later iterations start from the previous GRPO model and do not need it
    (`iterations = "first"`, the default).
    """

    model_config = ConfigDict(extra="forbid")

    learning_rate: float = Field(1e-5, gt=0)
    epochs: int = Field(1, ge=1, description="passes over the SFT dataset")
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps")
    batch_size: int = Field(32, ge=1, description="samples per optimizer step (all devices)")
    micro_batch_size: int = Field(1, ge=1, description="samples per forward/backward pass per device")
    max_length: int | None = Field(
        None, ge=16, description="prompt + answer tokens (default: grpo max_prompt_length + max_response_length)"
    )
    dataset: Path | None = Field(None, description="StepSample .jsonl or .parquet to learn from instead of the iteration's dataset")
    iterations: Literal["first", "all"] | list[int] = Field(
        "first", description="which loop iterations get the warm start before their GRPO"
    )
    save_freq: int = Field(200, ge=1, description="steps between SFT checkpoints (resume after a crash)")

    @field_validator("dataset")
    @classmethod
    def _dataset_kind(cls, value: Path | None) -> Path | None:
        if value is not None and value.suffix not in (".jsonl", ".parquet"):
            raise ValueError(f"{value}: expected a StepSample .jsonl or a .parquet file")
        return value

    @field_validator("iterations")
    @classmethod
    def _iterations_positive(cls, value: Any) -> Any:
        if isinstance(value, list) and any(j < 1 for j in value):
            raise ValueError(f"iterations are numbered from 1, got {value}")
        return value

    @model_validator(mode="after")
    def _micro_divides(self) -> SFTSettings:
        if self.batch_size % self.micro_batch_size:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of micro_batch_size ({self.micro_batch_size})")
        return self

    def applies_to(self, iteration: int) -> bool:
        if self.iterations == "all":
            return True
        if self.iterations == "first":
            return iteration == 1
        return iteration in self.iterations


class TrainSettings(BaseModel):
    """The trainer stage: which backend, its interpreter, and the GRPO run it performs."""

    model_config = ConfigDict(extra="forbid")

    backend: Backend = "verl"
    python: Path | None = Field(None, description="interpreter of the backend's runtime env (default: runtime_python(backend))")
    grpo: GRPOSettings = Field(default_factory=GRPOSettings)
    verl: VerlSettings = Field(default_factory=VerlSettings)
    trl: TrlSettings = Field(default_factory=TrlSettings)
    warm_start: WarmStart = Field("none", description='"sft": a supervised warm start before GRPO ([train.sft])')
    sft: SFTSettings = Field(default_factory=SFTSettings)
    keep_trainer_checkpoints: bool = Field(
        False, description="keep the trainers' checkpoints (optimizer state) after the stage's model is written"
    )
    keep_iteration_models: bool = Field(
        False, description="keep every iteration's model, not only the newest (resume needs only the newest)"
    )
    env: dict[str, str] = Field(default_factory=dict, description="extra environment for the trainer subprocess")
    log_tail_lines: int = Field(40, ge=1, description="log lines shown when the trainer fails")

    @model_validator(mode="after")
    def _layout_fits(self) -> TrainSettings:
        from looptool.train.preflight import layout_problems

        problems = layout_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _sft_layout_fits(self) -> TrainSettings:
        if self.warm_start == "sft" and self.backend == "verl":
            per_gpu, rest = divmod(self.sft.batch_size, self.verl.n_gpus_per_node)
            if rest or per_gpu % self.sft.micro_batch_size:
                raise ValueError(
                    f"train.sft.batch_size ({self.sft.batch_size}) must be a multiple of "
                    f"train.verl.n_gpus_per_node x train.sft.micro_batch_size "
                    f"({self.verl.n_gpus_per_node} x {self.sft.micro_batch_size}): the verl SFT runs on one node"
                )
        return self

    @property
    def sft_max_length(self) -> int:
        """Longest SFT sequence: the configured one, else what a GRPO prompt plus answer may take."""
        return self.sft.max_length or self.grpo.max_prompt_length + self.grpo.max_response_length

    def with_paths(self, base_dir: Path | None) -> TrainSettings:
        """A relative `sft.dataset` resolved against the config's directory."""
        dataset = self.sft.dataset
        if dataset is None or base_dir is None or dataset.expanduser().is_absolute():
            return self
        return self.model_copy(update={"sft": self.sft.model_copy(update={"dataset": (Path(base_dir) / dataset).resolve()})})

    def for_iteration(self, iteration: int, base_dir: Path | None = None) -> TrainSettings:
        """The settings one loop iteration trains with: the warm start only where it applies
        (`sft.iterations`), paths resolved against the config's directory."""
        settings = self.with_paths(base_dir)
        if settings.warm_start == "sft" and not settings.sft.applies_to(iteration):
            settings = settings.model_copy(update={"warm_start": "none"})
        return settings

    def runtime_python(self) -> Path:
        """The interpreter that runs this backend: the override, or the default runtime env."""
        from looptool.paths import runtime_python

        return self.python if self.python is not None else runtime_python(self.backend)
