"""verl's own code driven on CPU, run inside the verl runtime env by tests/train/test_verl_runtime.py.

Usage: python verl_checks.py CHECK ARGS.json   (prints one JSON line with the result)
       torchrun --nproc_per_node 2 verl_checks.py fsdp_save ARGS.json

Each check exercises the exact verl 0.9.1 code path a GPU run takes for that concern (notes/cpu_rl.md
§1d): Hydra composition + validate_config of our overrides, RLHFDataset on our parquet, the v1
reward loop calling our compute_score, and FSDPCheckpointManager writing a real checkpoint.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    import verl.trainer.main_ppo as main_ppo

    config_dir = str(Path(main_ppo.__file__).parent / "config")
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        return compose(config_name="ppo_trainer", overrides=overrides)


def check_compose(args: dict) -> dict:
    """Exactly the pre-Ray part of main_ppo.main, then the worker config dataclasses."""
    from omegaconf import OmegaConf

    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config
    from verl.utils.device import auto_set_device

    config = _compose(args["overrides"])
    auto_set_device(config)
    validate_config(config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))
    model = omega_conf_to_dataclass(config.actor_rollout_ref.model)  # loads config + tokenizer
    rollout = omega_conf_to_dataclass(config.actor_rollout_ref.rollout)
    actor = omega_conf_to_dataclass(config.actor_rollout_ref.actor)
    algorithm = omega_conf_to_dataclass(config.algorithm)
    c = OmegaConf.to_container(config, resolve=True)
    a, r = c["actor_rollout_ref"]["actor"], c["actor_rollout_ref"]["rollout"]
    return {
        "model_class": type(model).__name__,
        "model_path": str(model.path),
        "tokenizer_vocab": len(model.tokenizer) if getattr(model, "tokenizer", None) is not None else None,
        "rollout_class": type(rollout).__name__,
        "actor_class": type(actor).__name__,
        "algorithm_class": type(algorithm).__name__,
        "adv_estimator": str(algorithm.adv_estimator),
        "lr": a["optim"]["lr"],
        "ppo_mini_batch_size": a["ppo_mini_batch_size"],
        "ppo_micro_batch_size_per_gpu": a["ppo_micro_batch_size_per_gpu"],
        "clip_ratio_low": actor.clip_ratio_low,
        "clip_ratio_high": actor.clip_ratio_high,
        "use_kl_loss": actor.use_kl_loss,
        "entropy_coeff": actor.entropy_coeff,
        "save_contents": list(actor.checkpoint.save_contents),
        "rollout_name": rollout.name,
        "rollout_n": rollout.n,
        "temperature": rollout.temperature,
        "tp": rollout.tensor_model_parallel_size,
        "gpu_memory_utilization": rollout.gpu_memory_utilization,
        "prompt_length": r["prompt_length"],
        "response_length": r["response_length"],
        "train_batch_size": c["data"]["train_batch_size"],
        "filter_overlong_prompts": c["data"]["filter_overlong_prompts"],
        "reward_path": c["reward"]["custom_reward_function"]["path"],
        "reward_name": c["reward"]["custom_reward_function"]["name"],
        "total_epochs": c["trainer"]["total_epochs"],
        "nnodes": c["trainer"]["nnodes"],
        "n_gpus_per_node": c["trainer"]["n_gpus_per_node"],
        "default_local_dir": c["trainer"]["default_local_dir"],
        "resume_mode": c["trainer"]["resume_mode"],
        "logger": c["trainer"]["logger"],
        "param_offload": a["fsdp_config"]["param_offload"],
        "val_files": c["data"]["val_files"],
        "val_batch_size": c["data"]["val_batch_size"],
        "save_freq": c["trainer"]["save_freq"],
        "test_freq": c["trainer"]["test_freq"],
    }


def check_dataset(args: dict) -> dict:
    """RLHFDataset (with its overlong filter) and collate_fn on our parquet."""
    from omegaconf import OmegaConf
    from torch.utils.data import DataLoader

    from verl import DataProto
    from verl.utils import hf_tokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

    tokenizer = hf_tokenizer(args["model"])
    config = OmegaConf.create(
        {
            "max_prompt_length": args["max_prompt_length"],
            "filter_overlong_prompts": True,
            "filter_overlong_prompts_workers": 1,
            "truncation": "error",
            "return_raw_chat": True,
            "cache_dir": args["cache_dir"],
        }
    )
    dataset = RLHFDataset(args["parquet"], tokenizer, config)
    kept = [str(dataset[i]["extra_info"]["id"]) for i in range(len(dataset))]
    batch = next(iter(DataLoader(dataset, batch_size=min(2, len(dataset)), collate_fn=collate_fn)))
    proto = DataProto.from_single_dict(batch)
    first = dataset[0]
    return {
        "len": len(dataset),
        "kept_ids": kept,
        "proto_len": len(proto),
        "non_tensor_keys": sorted(proto.non_tensor_batch.keys()),
        "raw_prompt_roles": [m["role"] for m in first["raw_prompt"]],
        "ground_truth": first["reward_model"]["ground_truth"],
        "index": int(first["index"]),
    }


def check_reward(args: dict) -> dict:
    """RewardLoopWorker (the class the trainer wraps in ray.remote) -> naive manager -> our fn."""
    import numpy as np
    import torch

    from verl import DataProto
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker, migrate_legacy_reward_impl

    config = migrate_legacy_reward_impl(_compose(args["overrides"]))
    worker = RewardLoopWorker(config)
    tok = worker.input_tokenizer
    rows = args["rows"]  # [{"data_source", "ground_truth", "extra_info", "response"}]
    prompt_len, response_len = 8, args["response_len"]
    prompts, responses, masks = [], [], []
    for row in rows:
        ids = tok(row["response"], add_special_tokens=False)["input_ids"][:response_len]
        pad = response_len - len(ids)
        responses.append(ids + [tok.pad_token_id or 0] * pad)
        prompts.append([tok.pad_token_id or 0] * prompt_len)
        masks.append([1] * prompt_len + [1] * len(ids) + [0] * pad)
    data = DataProto.from_dict(
        tensors={
            "prompts": torch.tensor(prompts),
            "responses": torch.tensor(responses),
            "attention_mask": torch.tensor(masks),
        },
        non_tensors={
            "data_source": np.array([r["data_source"] for r in rows], dtype=object),
            "reward_model": np.array([{"style": "rule", "ground_truth": r["ground_truth"]} for r in rows], dtype=object),
            "extra_info": np.array([dict(r["extra_info"]) for r in rows], dtype=object),
        },
    )
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(data))
    decoded = [
        tok.decode(torch.tensor(r[: len(tok(x["response"], add_special_tokens=False)["input_ids"])]), skip_special_tokens=True)
        for r, x in zip(responses, rows)
    ]
    return {
        "scores": [float(o["reward_score"]) for o in outputs],
        "extra_keys": sorted(outputs[0].get("reward_extra_info", {}).keys()),
        "decoded": decoded,
        "manager": type(worker.reward_manager).__name__,
    }


def check_fsdp_save(args: dict) -> dict:
    """Under torchrun (2 ranks, gloo): FSDP2 model, one AdamW step, verl's checkpoint manager."""
    import torch
    import torch.distributed as dist
    from omegaconf import OmegaConf
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from verl.utils.checkpoint.fsdp_checkpoint_manager import FSDPCheckpointManager

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(args["model"], dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(args["model"])
    mesh = init_device_mesh("cpu", (world,), mesh_dim_names=("fsdp",))
    for layer in model.model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    optim = torch.optim.AdamW(model.parameters(), lr=1e-2)
    ids = torch.randint(0, len(tokenizer), (2, 16))
    model(input_ids=ids, labels=ids).loss.backward()
    optim.step()
    step_dir = Path(args["checkpoint_dir"]) / f"global_step_{args['step']}"
    manager = FSDPCheckpointManager(
        model=model,
        optimizer=optim,
        lr_scheduler=None,
        processing_class=tokenizer,
        checkpoint_config=OmegaConf.create({"save_contents": args["save_contents"], "load_contents": args["save_contents"]}),
    )
    manager.save_checkpoint(local_path=str(step_dir / "actor"), global_step=args["step"])
    full = {k: (v.full_tensor() if hasattr(v, "full_tensor") else v).detach().clone() for k, v in model.state_dict().items()}
    dist.barrier()
    if rank == 0:
        (Path(args["checkpoint_dir"]) / "latest_checkpointed_iteration.txt").write_text(str(args["step"]))
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in full.items()}, args["reference"])
    dist.destroy_process_group()
    return {"rank": rank, "files": sorted(p.name for p in (step_dir / "actor").iterdir())}


def check_compare(args: dict) -> dict:
    """Load the exported HF dir with transformers; compare with the live FSDP weights; generate."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(args["model_dir"], dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(args["model_dir"])
    reference = load_file(args["reference"])
    state = model.state_dict()
    diff = max((state[k].float() - v.float()).abs().max().item() for k, v in reference.items() if k in state)
    out = model.generate(**tokenizer("hello", return_tensors="pt"), max_new_tokens=4, do_sample=False)
    return {"max_abs_diff": diff, "compared": sum(k in state for k in reference), "generated": int(out.shape[-1])}


CHECKS = {
    "compose": check_compose,
    "dataset": check_dataset,
    "reward": check_reward,
    "fsdp_save": check_fsdp_save,
    "compare": check_compare,
}

if __name__ == "__main__":
    name, args_path = sys.argv[1], sys.argv[2]
    result = CHECKS[name](json.loads(Path(args_path).read_text()))
    print("RESULT " + json.dumps(result), flush=True)
