"""verl 0.9.1's SFT trainer code driven on CPU, run inside the verl runtime env by test_verl_sft.py.

Usage: python verl_sft_checks.py CHECK ARGS.json   (prints RESULT {json})

  compose  Hydra composition of `sft_trainer_engine` with our overrides, then the config
           dataclasses SFTTrainer._build_config builds (model incl. tokenizer, engine, optimizer,
           checkpoint) - what decides whether `verl.trainer.sft_trainer` starts.
  dataset  MultiTurnSFTDataset (verl's SFT data path, with its own whole-conversation sanity
           check) on our SFT parquet: tokens, and which of them carry loss.
  grpo_prompt_ids  the GRPO prompt's tokens for the same rows, to compare with.
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

    import verl.trainer.sft_trainer as sft_trainer

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(Path(sft_trainer.__file__).parent / "config"), version_base=None):
        return compose(config_name="sft_trainer_engine", overrides=overrides)


def check_compose(args: dict) -> dict:
    from omegaconf import OmegaConf

    from verl.utils.config import omega_conf_to_dataclass
    from verl.utils.device import auto_set_device

    config = _compose(args["overrides"])
    auto_set_device(config)
    model = omega_conf_to_dataclass(config.model)
    engine = omega_conf_to_dataclass(config.engine)
    optim = omega_conf_to_dataclass(config.optim)
    checkpoint = omega_conf_to_dataclass(config.checkpoint)
    c = OmegaConf.to_container(config, resolve=True)
    return {
        "model_class": type(model).__name__,
        "model_path": str(model.path),
        "tokenizer_vocab": len(model.tokenizer),
        "engine_class": type(engine).__name__,
        "param_offload": engine.param_offload,
        "optim_class": type(optim).__name__,
        "lr": optim.lr,
        "lr_scheduler_type": optim.lr_scheduler_type,
        "weight_decay": optim.weight_decay,
        "clip_grad": optim.clip_grad,
        "save_contents": list(checkpoint.save_contents),
        "data": {
            k: c["data"][k]
            for k in (
                "train_files",
                "val_files",
                "messages_key",
                "train_batch_size",
                "micro_batch_size_per_gpu",
                "use_dynamic_bsz",
                "max_length",
                "truncation",
            )
        },
        "trainer": {
            k: c["trainer"][k]
            for k in (
                "default_local_dir",
                "total_epochs",
                "total_training_steps",
                "logger",
                "save_freq",
                "resume_mode",
                "nnodes",
                "n_gpus_per_node",
                "max_ckpt_to_keep",
            )
        },
    }


def check_dataset(args: dict) -> dict:
    from verl.utils import hf_tokenizer
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

    config = _compose(args["overrides"])
    tokenizer = hf_tokenizer(args["model"])
    dataset = MultiTurnSFTDataset(parquet_files=args["parquet"], tokenizer=tokenizer, config=config.data)
    rows = []
    for i in range(len(dataset)):
        item = dataset[i]  # runs verl's sanity check: per-turn tokens == whole-conversation template
        ids, mask = item["input_ids"].tolist(), item["loss_mask"].tolist()
        first = mask.index(1)
        rows.append(
            {
                "trained_text": tokenizer.decode([t for t, m in zip(ids, mask) if m]),
                "context_ids": ids[:first],
                "mask_is_one_block": all(mask[first:]) and not any(mask[:first]),
                "length": len(ids),
            }
        )
    return {"len": len(dataset), "rows": rows}


def check_grpo_prompt_ids(args: dict) -> dict:
    """Token ids of each row's prompt as GRPO renders it (chat template + generation prompt, the
    way RLHFDataset and our token counter do)."""
    import pyarrow.parquet as pq

    from verl.utils import hf_tokenizer

    tokenizer = hf_tokenizer(args["model"])
    ids = []
    for row in pq.read_table(args["parquet"]).to_pylist():
        out = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=True)
        ids.append(list(out["input_ids"] if hasattr(out, "keys") else out))
    return {"ids": ids}


if __name__ == "__main__":
    name, path = sys.argv[1], sys.argv[2]
    checks = {"compose": check_compose, "dataset": check_dataset, "grpo_prompt_ids": check_grpo_prompt_ids}
    result = checks[name](json.loads(Path(path).read_text()))
    print("RESULT " + json.dumps(result))
