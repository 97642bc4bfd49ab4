"""verl 0.9.1's SFT trainer against our warm-start launch contract, with verl's own code on CPU.

A real SFT step needs GPUs (FSDP engine on CUDA); what runs here decides whether the torchrun
launch starts and what it trains on: Hydra composition of `sft_trainer_engine` with our exact
overrides plus the config dataclasses SFTTrainer builds, the module's CLI on our argv
(`--cfg job`), and MultiTurnSFTDataset on our SFT parquet (loss on the answer only, after exactly
the tokens of the GRPO prompt).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from looptool.train.config import TrainSettings
from looptool.train.sft_data import examples_from_samples, sft_target, write_sft_parquet
from looptool.train.tokencount import looptool_pythonpath
from looptool.train.verl_sft import SFT_MODULE, build_sft_overrides, sft_trainer_argv

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
ENV = {**os.environ, "PYTHONPATH": looptool_pythonpath(), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
SETTINGS = TrainSettings(
    warm_start="sft", sft={"batch_size": 64, "micro_batch_size": 2, "learning_rate": 2e-5, "max_steps": 10, "max_length": 1500}
)


def _parquet(samples, tmp_path: Path) -> Path:
    samples = [s if s.label_calls else s.model_copy(update={"label_text": f"a joke for {s.id}"}) for s in samples]
    path = tmp_path / "sft.parquet"
    write_sft_parquet(examples_from_samples(samples, []), path, max_length=10_000)
    return path


def _overrides(tmp_path: Path, model: Path, parquet: Path) -> list[str]:
    return build_sft_overrides(
        SETTINGS, train_file=parquet, model_path=model, checkpoint_dir=tmp_path / "ck", experiment_name="iter_01-sft"
    )


def _check(python: Path, name: str, args: dict, tmp_path: Path) -> dict:
    (tmp_path / f"{name}.json").write_text(json.dumps(args))
    proc = subprocess.run(
        [str(python), str(HERE / "verl_sft_checks.py"), name, str(tmp_path / f"{name}.json")],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.split("RESULT ", 1)[1])


def test_sft_overrides_compose_into_verls_sft_trainer_config(samples, require_runtime, tiny_model, tmp_path):
    python, model = require_runtime("verl"), tiny_model("verl")
    parquet = _parquet(samples, tmp_path)
    out = _check(python, "compose", {"overrides": _overrides(tmp_path, model, parquet)}, tmp_path)
    assert out["model_class"] == "HFModelConfig" and out["model_path"] == str(model) and out["tokenizer_vocab"]
    assert out["engine_class"] == "FSDPEngineConfig" and out["param_offload"] is False
    assert (out["lr"], out["lr_scheduler_type"], out["weight_decay"], out["clip_grad"]) == (2e-5, "constant", 0.01, 1.0)
    assert out["save_contents"] == ["model", "optimizer", "extra", "hf_model"]
    assert out["data"] == {
        "train_files": str(parquet),
        "val_files": None,
        "messages_key": "messages",
        "train_batch_size": 64,
        "micro_batch_size_per_gpu": 2,
        "use_dynamic_bsz": False,
        "max_length": 1500,
        "truncation": "error",
    }
    assert out["trainer"] == {
        "default_local_dir": str(tmp_path / "ck"),
        "total_epochs": 1,
        "total_training_steps": 10,
        "logger": ["console"],
        "save_freq": 200,
        "resume_mode": "auto",
        "nnodes": 1,
        "n_gpus_per_node": 8,
        "max_ckpt_to_keep": 1,
    }


def test_sft_trainer_cli_accepts_our_exact_argv(samples, require_runtime, tiny_model, tmp_path):
    python, model = require_runtime("verl"), tiny_model("verl")
    argv = sft_trainer_argv(python, 8, _overrides(tmp_path, model, _parquet(samples, tmp_path)))
    module_at = argv.index(SFT_MODULE)
    # torchrun would start 8 ranks of exactly this; here the module itself, asked for its job config.
    proc = subprocess.run(
        [str(python), "-m", *argv[module_at:], "--cfg", "job", "--resolve"],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "messages_key: messages" in proc.stdout and "lr_scheduler_type: constant" in proc.stdout
    assert f"path: {model}" in proc.stdout


def test_verl_sft_dataset_trains_on_the_answer_only_after_the_grpo_prompt(samples, require_runtime, tiny_model, tmp_path):
    python, model = require_runtime("verl"), tiny_model("verl")
    parquet = _parquet(samples, tmp_path)
    out = _check(
        python, "dataset", {"overrides": _overrides(tmp_path, model, parquet), "parquet": str(parquet), "model": str(model)}, tmp_path
    )
    assert out["len"] == len(samples)
    grpo_prompts = _check(python, "grpo_prompt_ids", {"parquet": str(parquet), "model": str(model)}, tmp_path)
    labelled = [s if s.label_calls else s.model_copy(update={"label_text": f"a joke for {s.id}"}) for s in samples]
    for row, sample, prompt_ids in zip(out["rows"], labelled, grpo_prompts["ids"]):
        assert row["mask_is_one_block"]
        assert row["trained_text"] == sft_target(sample) + "<|im_end|>\n"
        assert row["context_ids"] == prompt_ids  # exactly the tokens GRPO samples after
