"""The experiment's compute, in the TRL runtime: `python -m looptool.experiment.worker JOB.json`.

Builds (or reuses) the warm-started policy, then runs every (arm, seed) not yet in results.jsonl
and appends its record there (a killed run resumes at the next unfinished arm-seed).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from looptool.experiment.settings import ExperimentSettings
from looptool.experiment.world import World


def log(text: str) -> None:
    print(f"[experiment {time.strftime('%H:%M:%S')}] {text}", flush=True)


def done_keys(results: Path) -> set[tuple[str, int]]:
    if not results.exists():
        return set()
    keys = set()
    for line in results.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            keys.add((row["arm"], row["seed"]))
    return keys


def warm_start(settings: ExperimentSettings, world: World, base: Path, warm_dir: Path) -> dict[str, Any]:
    """Copy pretraining + SFT on the clean slice, saved once per warm_start_key (cache)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from looptool.experiment import arms, policy

    marker = warm_dir / "warm_start.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        log(f"warm start reused from {warm_dir} (held-out {info['heldout_accuracy']:.3f})")
        return {**info, "reused": True}
    started = time.perf_counter()
    torch.manual_seed(settings.world.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    before = arms.heldout_accuracy(model, tokenizer, world, settings)
    policy.copy_pretrain(model, tokenizer, settings.policy, settings.world.seed, log)
    copy_s = time.perf_counter() - started
    policy.sft(model, tokenizer, world.warm_slice, settings.policy, settings.world.seed, log)
    accuracy = arms.heldout_accuracy(model, tokenizer, world, settings)
    tmp = warm_dir.with_name(warm_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    info = {
        "base_heldout_accuracy": before,
        "heldout_accuracy": accuracy,
        "copy_s": copy_s,
        "wall_s": time.perf_counter() - started,
        "key": settings.warm_start_key(),
    }
    (tmp / "warm_start.json").write_text(json.dumps(info, indent=2))
    shutil.rmtree(warm_dir, ignore_errors=True)
    os.replace(tmp, warm_dir)
    log(f"warm start built in {info['wall_s']:.0f} s: held-out {before:.3f} -> {accuracy:.3f}")
    return {**info, "reused": False}


def run(job: dict[str, Any]) -> None:
    import torch

    torch.set_num_threads(job.get("threads", 2))
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from looptool.experiment import arms

    settings = ExperimentSettings.model_validate(job["settings"])
    world = World.model_validate_json(Path(job["world"]).read_text())
    out = Path(job["out_dir"])
    warm_dir = Path(job["warm_dir"])
    info = warm_start(settings, world, Path(job["base_model"]), warm_dir)
    (out / "warm_start.json").write_text(json.dumps(info, indent=2))

    def load_policy() -> tuple[Any, Any]:
        tokenizer = AutoTokenizer.from_pretrained(str(warm_dir))
        return AutoModelForCausalLM.from_pretrained(str(warm_dir), dtype=torch.float32), tokenizer

    results = out / "results.jsonl"
    finished = done_keys(results)
    for arm, seeds in settings.arms.items():
        for seed in range(seeds):
            if (arm, seed) in finished:
                log(f"{arm} seed {seed}: already in results.jsonl")
                continue
            torch.manual_seed(seed)
            record = arms.run_arm(arm, seed, world, settings, load_policy, str(out / "work" / f"{arm}-{seed}"), log)
            with results.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            log(f"{arm} seed {seed} done in {record['wall_s']:.0f} s: held-out {[round(a, 3) for a in record['accuracy']]}")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    run(json.loads(Path(argv[0]).read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
