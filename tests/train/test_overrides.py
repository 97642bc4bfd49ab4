"""The main_ppo overrides built from typed settings (checked against verl itself in the slow tests)."""

from __future__ import annotations

from pathlib import Path

from looptool.train.config import TrainSettings
from looptool.train.verl_backend import build_overrides, hydra_value, main_ppo_argv, write_reward_module


def _overrides(settings: TrainSettings, tmp_path: Path) -> dict[str, str]:
    items = build_overrides(
        settings,
        train_file=tmp_path / "train.parquet",
        model_path=tmp_path / "init model",
        reward_file=tmp_path / "reward_fn.py",
        checkpoint_dir=tmp_path / "checkpoints",
        experiment_name="iter_1",
        train_rows=1000,
    )
    keys = [item.split("=", 1)[0] for item in items]
    assert len(keys) == len(set(keys)), "an override key appears twice"
    return dict(item.split("=", 1) for item in items)


def test_paper_preset_overrides(tmp_path):
    o = _overrides(TrainSettings(), tmp_path)
    assert o["algorithm.adv_estimator"] == "grpo"
    assert o["actor_rollout_ref.actor.optim.lr"] == "1e-06"
    assert o["data.train_batch_size"] == "128" and o["actor_rollout_ref.actor.ppo_mini_batch_size"] == "128"
    assert o["actor_rollout_ref.rollout.n"] == "16" and o["actor_rollout_ref.rollout.temperature"] == "1.0"
    assert o["actor_rollout_ref.actor.clip_ratio_low"] == "0.2" and o["actor_rollout_ref.actor.clip_ratio_high"] == "0.28"
    assert o["actor_rollout_ref.actor.use_kl_loss"] == "false" and o["algorithm.use_kl_in_reward"] == "false"
    assert o["actor_rollout_ref.actor.entropy_coeff"] == "0.0"
    assert o["data.max_prompt_length"] == "4096" and o["data.max_response_length"] == "1024"
    assert o["trainer.total_epochs"] == "2"
    assert o["actor_rollout_ref.rollout.name"] == "vllm"
    assert o["actor_rollout_ref.rollout.tensor_model_parallel_size"] == "2"
    assert (o["trainer.nnodes"], o["trainer.n_gpus_per_node"]) == ("1", "8")
    assert o["reward.custom_reward_function.name"] == "compute_score"
    assert o["trainer.resume_mode"] == "auto" and o["trainer.logger"] == "[console]"
    assert o["trainer.max_actor_ckpt_to_keep"] == "2"
    assert o["actor_rollout_ref.actor.checkpoint.save_contents"] == "[model,optimizer,extra,hf_model]"
    # A path with a space must be quoted for Hydra's grammar.
    assert o["actor_rollout_ref.model.path"] == f"'{tmp_path / 'init model'}'"
    assert "trainer.total_training_steps" not in o and "ray_kwargs.ray_init.num_cpus" not in o
    # Table 6: rollout memory 0.7; save and validate once per epoch (1000 rows // 128 = 7 steps); val batch 128
    assert o["actor_rollout_ref.rollout.gpu_memory_utilization"] == "0.7"
    assert o["trainer.save_freq"] == o["trainer.test_freq"] == "7" and o["data.val_batch_size"] == "128"
    assert o["data.val_files"] == str(tmp_path / "train.parquet")


def test_validation_set_and_per_epoch_switches(tmp_path):
    held_out = tmp_path / "val.parquet"
    s = TrainSettings(
        verl={"val_file": str(held_out), "val_batch_size": 64, "save_per_epoch": False, "validate_per_epoch": False}, grpo={"save_freq": 9}
    )
    items = build_overrides(
        s,
        train_file=tmp_path / "t.parquet",
        model_path=tmp_path / "m",
        reward_file=tmp_path / "r.py",
        checkpoint_dir=tmp_path / "c",
        experiment_name="x",
        train_rows=300,
    )
    o = dict(i.split("=", 1) for i in items)
    assert o["data.val_files"] == str(held_out) and o["data.val_batch_size"] == "64"
    assert o["trainer.save_freq"] == "9" and o["trainer.test_freq"] == "-1"


def test_an_epoch_is_counted_in_the_parquet_file_when_rows_are_not_given(tmp_path, monkeypatch):
    import looptool.train.parquet as parquet

    monkeypatch.setattr(parquet, "count_rows", lambda path: 515)
    items = build_overrides(
        TrainSettings(grpo={"train_batch_size": 64, "mini_batch_size": 64}),
        train_file=tmp_path / "t.parquet",
        model_path=tmp_path / "m",
        reward_file=tmp_path / "r.py",
        checkpoint_dir=tmp_path / "c",
        experiment_name="x",
    )
    assert dict(i.split("=", 1) for i in items)["trainer.save_freq"] == "8", "verl drops the last partial batch: 515 // 64"


def test_layout_preset_kl_and_caps(tmp_path):
    s = TrainSettings(
        verl={
            "preset": "4x8gpu",
            "ray_num_cpus": 64,
            "save_hf_model": False,
            "extra_overrides": ["+actor_rollout_ref.model.override_config.attn_implementation=sdpa"],
        },
        grpo={"kl_loss_coef": 0.001, "max_steps": 10},
    )
    items = build_overrides(
        s,
        train_file=tmp_path / "t.parquet",
        model_path=tmp_path / "m",
        reward_file=tmp_path / "r.py",
        checkpoint_dir=tmp_path / "c",
        experiment_name="x",
        train_rows=512,
    )
    o = dict(i.split("=", 1) for i in items)
    assert (o["trainer.nnodes"], o["actor_rollout_ref.rollout.tensor_model_parallel_size"]) == ("4", "8")
    assert o["actor_rollout_ref.actor.fsdp_config.param_offload"] == "true"
    assert o["actor_rollout_ref.actor.use_kl_loss"] == "true" and o["actor_rollout_ref.actor.kl_loss_coef"] == "0.001"
    assert o["trainer.total_training_steps"] == "10" and o["ray_kwargs.ray_init.num_cpus"] == "64"
    assert o["actor_rollout_ref.actor.checkpoint.save_contents"] == "[model,optimizer,extra]"
    assert items[-1] == "+actor_rollout_ref.model.override_config.attn_implementation=sdpa"


def test_hydra_value_quoting():
    assert hydra_value(True) == "true" and hydra_value(None) == "null" and hydra_value(3) == "3"
    assert hydra_value("/a/b-c_d.parquet") == "/a/b-c_d.parquet"
    assert hydra_value("it's here") == "'it\\'s here'"
    assert hydra_value("true") == "'true'"  # a string that would otherwise become a bool
    assert hydra_value(["a", 1]) == "[a,1]"


def test_reward_module_exports_compute_score(tmp_path):
    path = write_reward_module(tmp_path / "reward_fn.py")
    text = path.read_text()
    assert "from looptool.tools.reward import compute_score" in text
    compile(text, str(path), "exec")
    argv = main_ppo_argv(Path("/py"), ["a=1"])
    assert argv == ["/py", "-m", "verl.trainer.main_ppo", "a=1"]
