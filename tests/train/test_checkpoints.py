"""Finding the newest verl checkpoint and materialising an HF dir from it."""

from __future__ import annotations

import anyio
import pytest

from looptool.train.process import TrainerFailed
from looptool.train.verl_backend import export_verl_model, latest_checkpoint, link_or_copy_tree, saved_hf_weights


def _step(root, n, hf=False):
    actor = root / f"global_step_{n}" / "actor"
    (actor / "huggingface").mkdir(parents=True)
    (actor / "huggingface" / "config.json").write_text("{}")
    if hf:
        (actor / "huggingface" / "model.safetensors").write_bytes(b"weights")
    return actor.parent


def test_tracker_file_wins(tmp_path):
    _step(tmp_path, 10)
    five = _step(tmp_path, 5)
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("5\n")
    assert latest_checkpoint(tmp_path) == five


def test_largest_step_without_tracker_and_ignores_junk(tmp_path):
    _step(tmp_path, 2)
    ten = _step(tmp_path, 10)
    (tmp_path / "global_step_99").mkdir()  # no actor/ (half-written)
    (tmp_path / "global_step_x").mkdir()
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("77")  # points nowhere
    assert latest_checkpoint(tmp_path) == ten
    assert latest_checkpoint(tmp_path / "nothing") is None


def test_saved_hf_weights_needs_weights(tmp_path):
    assert saved_hf_weights(_step(tmp_path, 1)) is None
    assert saved_hf_weights(_step(tmp_path, 2, hf=True)).name == "huggingface"


def test_export_uses_saved_hf_weights_without_merger(tmp_path):
    ckpt = tmp_path / "checkpoints"
    _step(ckpt, 3, hf=True)
    model_dir = tmp_path / "model"
    info = anyio.run(lambda: export_verl_model(tmp_path / "no-python", ckpt, model_dir, env={}, log_path=tmp_path / "log"))
    assert info["export"] == "saved_hf_weights" and info["checkpoint"].endswith("global_step_3")
    assert (model_dir / "model.safetensors").read_bytes() == b"weights"


def test_export_without_checkpoint_fails_clearly(tmp_path):
    with pytest.raises(TrainerFailed, match="no global_step_N checkpoint"):
        anyio.run(lambda: export_verl_model(tmp_path / "py", tmp_path / "c", tmp_path / "m", env={}, log_path=tmp_path / "log"))


def test_link_or_copy_tree_replaces_atomically(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f").write_text("x")
    link_or_copy_tree(src, tmp_path / "dst")
    assert (tmp_path / "dst" / "sub" / "f").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst", "src"]
