"""What a finished training stage leaves on disk, and the stage's headline numbers."""

from __future__ import annotations

from pathlib import Path

from looptool.train.config import TrainSettings
from looptool.train.retention import prune_iteration_models, release_stage_files, size_text
from looptool.train.runner import TrainResult, zero_spread_warning


def _files(root: Path, *relative: str) -> None:
    for rel in relative:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1000)


def test_a_finished_stage_keeps_its_model_and_record_only(tmp_path):
    work = tmp_path / "iter_01" / "train"
    _files(
        work,
        "checkpoints/checkpoint-1/optimizer.pt",
        "sft/checkpoints/checkpoint-3/optimizer.pt",
        "sft/model/model.safetensors",
        "sft/sft_result.json",
        "model/model.safetensors",
        "train_result.json",
    )
    lines: list[str] = []
    freed = release_stage_files(work, TrainSettings(), lines.append)
    assert freed == 3000
    left = sorted(str(p.relative_to(work)) for p in work.rglob("*") if p.is_file())
    assert left == ["model/model.safetensors", "sft/sft_result.json", "train_result.json"]
    assert lines == [
        "[train] removed checkpoints, sft/checkpoints, sft/model (2.9 KB): resume needs none of them once "
        "the stage is recorded (train.keep_trainer_checkpoints / keep_iteration_models keep them)"
    ]


def test_keep_flags_keep_checkpoints_and_models(tmp_path):
    work = tmp_path / "w"
    _files(work, "checkpoints/checkpoint-1/optimizer.pt", "sft/model/model.safetensors")
    keep = TrainSettings(keep_trainer_checkpoints=True, keep_iteration_models=True)
    assert release_stage_files(work, keep) == 0
    assert (work / "checkpoints/checkpoint-1/optimizer.pt").is_file() and (work / "sft/model").is_dir()


def test_earlier_iteration_models_go_once_the_next_one_trained(tmp_path):
    _files(
        tmp_path,
        "iter_01/train/model/w.safetensors",
        "iter_02/train/model/w.safetensors",
        "iter_03/train/model/w.safetensors",
        "iter_01/train/train_result.json",
        "models/mine/w.safetensors",
    )
    lines: list[str] = []
    assert prune_iteration_models(tmp_path, 3, TrainSettings(), lines.append) == 2000
    assert not (tmp_path / "iter_01/train/model").exists() and not (tmp_path / "iter_02/train/model").exists()
    assert (tmp_path / "iter_03/train/model/w.safetensors").is_file()  # the newest: probing and resume need it
    assert (tmp_path / "iter_01/train/train_result.json").is_file() and (tmp_path / "models/mine").is_dir()
    assert prune_iteration_models(tmp_path, 3, TrainSettings(), lines.append) == 0  # idempotent
    _files(tmp_path, "iter_01/train/model/w.safetensors")
    assert prune_iteration_models(tmp_path, 2, TrainSettings(keep_iteration_models=True)) == 0
    assert (tmp_path / "iter_01/train/model").is_dir()


def test_size_text():
    assert (size_text(512), size_text(1536), size_text(517 * 2**20), size_text(int(1.6 * 2**30))) == (
        "512 B",
        "1.5 KB",
        "517.0 MB",
        "1.6 GB",
    )


def test_stage_counts_are_rounded_and_name_the_warm_start(tmp_path):
    metrics = {
        "backend": "trl",
        "steps": 1,
        "reward_mean": 0.123456789,
        "reward_spread": 0.5,
        "loss": 0.0,
        "grad_norm": 0.84139,
        "step_time_s": 106.13350734899996,
        "wall_s": 300.2,
        "warm_start": {"steps": 3},
        "history": [{"step": 1}],
    }
    counts = TrainResult(tmp_path, metrics, tmp_path / "log").stage_counts()
    assert counts == {
        "backend": "trl",
        "warm_start": "sft",
        "steps": 1,
        "reward_mean": 0.1235,
        "reward_spread": 0.5,
        "loss": 0.0,
        "grad_norm": 0.8414,
        "step_time_s": 106.1335,
        "wall_s": 300.2,
    }
    assert "warm_start" not in TrainResult(tmp_path, {"steps": 0}, tmp_path).stage_counts()


def test_zero_spread_warning_only_when_every_step_had_none():
    assert zero_spread_warning({"no_spread_all_steps": False, "steps": 2}) is None
    assert zero_spread_warning({}) is None
    text = zero_spread_warning({"no_spread_all_steps": True, "steps": 2})
    assert text.startswith("WARNING: no GRPO group had reward spread in any of the 2 step(s)")
    assert "\n" not in text and 'Try train.warm_start = "sft"' in text
    warmed = zero_spread_warning({"no_spread_all_steps": True, "steps": 1, "warm_start": {"steps": 30}})
    assert "Try a longer warm start ([train.sft])" in warmed


def test_what_is_kept_may_change_on_resume_but_the_warm_start_may_not():
    from looptool.config.stage_keys import config_conflicts

    old = {
        "train": {
            "keep_trainer_checkpoints": False,
            "keep_iteration_models": False,
            "warm_start": "sft",
            "sft": {"save_freq": 200, "learning_rate": 1e-5},
        }
    }
    new = {
        "train": {
            "keep_trainer_checkpoints": True,
            "keep_iteration_models": True,
            "warm_start": "sft",
            "sft": {"save_freq": 5, "learning_rate": 1e-5},
        }
    }
    assert config_conflicts(old, new, {"iter_01/train"})[1] == []
    new["train"]["sft"]["learning_rate"] = 1e-4
    new["train"]["warm_start"] = "none"
    conflicts = config_conflicts(old, new, {"iter_01/train"})[1]
    assert sorted(c.split(":")[0] for c in conflicts) == ["train.sft.learning_rate", "train.warm_start"]
