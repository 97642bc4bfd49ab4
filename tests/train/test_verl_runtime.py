"""verl 0.9.1's own code on CPU against our launch contract (notes/cpu_rl.md §1d).

A real main_ppo GRPO step needs GPUs (Ray GPU pools, FSDP on CUDA, vLLM rollout). What runs here is
every verl code path that decides whether such a run starts and what it reads and writes:
  * Hydra composition + validate_config + worker config dataclasses on our exact overrides, for
    both reference presets, and the `main_ppo ... --cfg job` CLI on our exact argv;
  * RLHFDataset (with its overlong filter) on our parquet with the tiny model's tokenizer;
  * the v1 reward loop (RewardLoopWorker -> naive manager) calling our compute_score through the
    generated reward module;
  * FSDPCheckpointManager writing a real checkpoint (2 gloo ranks) -> our export (verl's model
    merger) -> a loadable HF dir.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import anyio
import pytest

from looptool.train.config import TrainSettings
from looptool.train.parquet import write_verl_parquet
from looptool.train.preflight import layout_problems, reward_check
from looptool.train.tokencount import RuntimeTokenCounter, looptool_pythonpath
from looptool.train.verl_backend import (
    build_overrides,
    export_verl_model,
    main_ppo_argv,
    write_reward_module,
)

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
ENV = {**os.environ, "PYTHONPATH": looptool_pythonpath(), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _check(python: Path, name: str, args: dict, tmp_path: Path, expect_ok: bool = True) -> dict | str:
    args_path = tmp_path / f"{name}_args.json"
    args_path.write_text(json.dumps(args))
    proc = subprocess.run(
        [str(python), str(HERE / "verl_checks.py"), name, str(args_path)],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=tmp_path,
        timeout=600,
    )
    if not expect_ok:
        assert proc.returncode != 0, proc.stdout[-2000:]
        return proc.stderr
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.split("RESULT ", 1)[1])


def _overrides(settings: TrainSettings, tmp_path: Path, model: Path, samples) -> list[str]:
    parquet = tmp_path / "train.parquet"
    if not parquet.exists():
        write_verl_parquet(samples, parquet)
    return build_overrides(
        settings,
        train_file=parquet,
        model_path=model,
        reward_file=write_reward_module(tmp_path / "reward_fn.py"),
        checkpoint_dir=tmp_path / "checkpoints",
        experiment_name="iter_1",
    )


@pytest.mark.parametrize("preset", ["8gpu", "4x8gpu"])
def test_paper_overrides_compose_and_validate_in_verl(samples, preset, require_runtime, tiny_model, tmp_path):
    python, model = require_runtime("verl"), tiny_model("verl")
    settings = TrainSettings(verl={"preset": preset})
    out = _check(python, "compose", {"overrides": _overrides(settings, tmp_path, model, samples)}, tmp_path)
    g, v = settings.grpo, settings.verl
    assert out["model_class"] == "HFModelConfig" and out["model_path"] == str(model)
    assert out["tokenizer_vocab"] and out["actor_class"] == "FSDPActorConfig"
    assert out["adv_estimator"].lower().endswith("grpo")
    assert (out["lr"], out["train_batch_size"], out["ppo_mini_batch_size"]) == (1e-6, 128, 128)
    assert (out["rollout_n"], out["temperature"]) == (16, 1.0)
    assert (out["clip_ratio_low"], out["clip_ratio_high"]) == (0.2, 0.28)
    assert (out["use_kl_loss"], out["entropy_coeff"]) == (False, 0.0)
    assert (out["prompt_length"], out["response_length"]) == (g.max_prompt_length, g.max_response_length)
    assert out["total_epochs"] == 2 and out["filter_overlong_prompts"] is True
    assert (out["nnodes"], out["n_gpus_per_node"], out["tp"]) == (v.nnodes, v.n_gpus_per_node, v.tensor_parallel_size)
    assert out["rollout_name"] == "vllm" and out["gpu_memory_utilization"] == v.gpu_memory_utilization
    assert out["param_offload"] is v.param_offload
    assert out["reward_path"] == str(tmp_path / "reward_fn.py") and out["reward_name"] == "compute_score"
    # Table 6: rollout memory 0.7, save and validate once per epoch (verl counts steps), val batch 128.
    assert out["gpu_memory_utilization"] == 0.7 and out["val_batch_size"] == 128
    epoch = max(1, len(samples) // g.train_batch_size)
    assert out["save_freq"] == out["test_freq"] == epoch and out["val_files"] == str(tmp_path / "train.parquet")
    assert out["save_contents"] == ["model", "optimizer", "extra", "hf_model"]
    assert out["default_local_dir"] == str(tmp_path / "checkpoints") and out["resume_mode"] == "auto"


def test_verl_and_our_layout_rules_agree_on_a_bad_layout(samples, require_runtime, tiny_model, tmp_path):
    python, model = require_runtime("verl"), tiny_model("verl")
    # Built without validation so the same bad numbers reach verl.
    good = TrainSettings()
    bad = good.model_copy(update={"verl": good.verl.model_copy(update={"n_gpus_per_node": 3, "tensor_parallel_size": 1})})
    assert any("divisible by the GPU count" in p for p in layout_problems(bad))
    err = _check(python, "compose", {"overrides": _overrides(bad, tmp_path, model, samples)}, tmp_path, expect_ok=False)
    assert "real_train_batch_size (2048) must be divisible by minimal possible batch size (3)" in err


def test_main_ppo_cli_accepts_our_exact_argv(samples, require_runtime, tiny_model, tmp_path):
    python, model = require_runtime("verl"), tiny_model("verl")
    argv = main_ppo_argv(python, _overrides(TrainSettings(), tmp_path, model, samples)) + ["--cfg", "job", "--resolve"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "adv_estimator: grpo" in proc.stdout and "clip_ratio_high: 0.28" in proc.stdout
    assert f"path: {tmp_path / 'reward_fn.py'}" in proc.stdout


def test_unknown_override_is_rejected_by_verl(samples, require_runtime, tiny_model, tmp_path):
    python, model = require_runtime("verl"), tiny_model("verl")
    settings = TrainSettings(verl={"extra_overrides": ["trainer.no_such_key=1"]})
    err = _check(python, "compose", {"overrides": _overrides(settings, tmp_path, model, samples)}, tmp_path, expect_ok=False)
    assert "no_such_key" in err


def test_rlhf_dataset_reads_our_parquet_and_filters_like_us(sample_factory, require_runtime, tiny_model, tmp_path):
    python, model = require_runtime("verl"), tiny_model("verl")
    samples = sample_factory(12, long_every=4)
    full = tmp_path / "full.parquet"
    write_verl_parquet(samples, full)
    limit = 1200
    with RuntimeTokenCounter(python, model) as count:
        report = write_verl_parquet(samples, tmp_path / "ours.parquet", max_prompt_tokens=limit, count_tokens=count)
    assert [f.id for f in report.filtered] == ["s003", "s007", "s011"]
    out = _check(
        python,
        "dataset",
        {"parquet": str(full), "model": str(model), "max_prompt_length": limit, "cache_dir": str(tmp_path / "cache")},
        tmp_path,
    )
    ours = sorted({s.id for s in samples} - {f.id for f in report.filtered})
    assert sorted(out["kept_ids"]) == ours  # verl's own filter keeps exactly the rows we keep
    assert out["proto_len"] == 2 and out["raw_prompt_roles"] == ["system", "user"]
    assert {"data_source", "reward_model", "extra_info", "raw_prompt"} <= set(out["non_tensor_keys"])
    assert json.loads(out["ground_truth"]) == [{"name": "get_weather", "arguments": {"city": "paris"}}]


def test_verl_reward_loop_calls_our_compute_score(samples, sample_factory, require_runtime, tiny_model, tmp_path):
    python, model = require_runtime("verl"), tiny_model("verl")
    overrides = _overrides(TrainSettings(), tmp_path, model, samples)
    tools = json.dumps(sample_factory(1)[0].tools)
    gt = json.dumps([{"name": "get_weather", "arguments": {"city": "paris"}}])
    rows = [
        {"response": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "paris"}}\n</tool_call>'},
        {"response": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "oslo"}}\n</tool_call>'},
        {"response": "It is sunny in paris."},
        {"response": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "paris"</tool_call>'},
    ]
    for row in rows:
        row.update(data_source="looptool", ground_truth=gt, extra_info={"index": 0, "id": "x", "tools": tools})
    out = _check(python, "reward", {"overrides": overrides, "rows": rows, "response_len": 64}, tmp_path)
    assert out["manager"] == "NaiveRewardManager"
    assert out["decoded"][0] == rows[0]["response"]  # the tags survive skip_special_tokens decoding
    assert out["scores"] == [1.0, 0.0, 0.0, 0.0]
    # And our pre-flight, run in the same interpreter, accepts the same module.
    write_verl_parquet(sample_factory(8), tmp_path / "p.parquet")
    result = reward_check(python, tmp_path / "reward_fn.py", "compute_score", tmp_path / "p.parquet")
    assert result["ok"] and result["rows"] == 8 and result["reference_misses"] == []


def test_fsdp_checkpoint_exports_to_loadable_hf_dir(require_runtime, tiny_model, tmp_path):
    python, model = require_runtime("verl"), tiny_model("verl")
    ckpt = tmp_path / "checkpoints"
    args = {
        "model": str(model),
        "checkpoint_dir": str(ckpt),
        "step": 1,
        "save_contents": ["model", "optimizer", "extra"],
        "reference": str(tmp_path / "ref.safetensors"),
    }
    (tmp_path / "fsdp_args.json").write_text(json.dumps(args))
    torchrun = Path(python).parent / "torchrun"
    proc = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", str(HERE / "verl_checks.py"), "fsdp_save", str(tmp_path / "fsdp_args.json")],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    actor = ckpt / "global_step_1" / "actor"
    assert {"model_world_size_2_rank_0.pt", "model_world_size_2_rank_1.pt", "fsdp_config.json"} <= {p.name for p in actor.iterdir()}

    lines: list[str] = []
    info = anyio.run(
        lambda: export_verl_model(
            python,
            ckpt,
            tmp_path / "model",
            env={"PYTHONPATH": looptool_pythonpath(), "HF_HUB_OFFLINE": "1"},
            log_path=tmp_path / "train.log",
            sinks=[lines.append],
        )
    )
    assert info["export"] == "model_merger" and info["checkpoint"].endswith("global_step_1")
    out = _check(python, "compare", {"model_dir": str(tmp_path / "model"), "reference": args["reference"]}, tmp_path)
    assert out["compared"] > 0 and out["generated"] > 1
    assert out["max_abs_diff"] < 1e-2  # the merger writes bf16: rounding only


def test_preflight_in_the_verl_env_passes_data_checks_and_refuses_missing_gpus(samples, require_runtime, tiny_model, tmp_path):
    from looptool.train.preflight import PreflightError, run_preflight

    python, model = require_runtime("verl"), tiny_model("verl")
    write_verl_parquet(samples, tmp_path / "d.parquet")
    settings = TrainSettings(
        python=python,
        verl={"n_gpus_per_node": 2, "tensor_parallel_size": 1, "ppo_micro_batch_size_per_gpu": 1},
        grpo={"train_batch_size": 4, "mini_batch_size": 4, "rollouts_per_prompt": 4},
    )
    with pytest.raises(PreflightError) as info:
        run_preflight(settings, tmp_path / "d.parquet", model, reward_file=write_reward_module(tmp_path / "reward_fn.py"))
    # Lengths were measured and the reward module scored all references: only the GPUs are missing.
    assert info.value.problems == [
        f"train.verl.n_gpus_per_node is 2 but {python} sees 0 CUDA device(s) on this machine; "
        "verl cannot train without them (use backend = 'trl' on CPU)"
    ]
