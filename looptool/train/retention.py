"""What a run directory keeps once a stage is done: what resume needs, no more (by default).

Measured on the quickstart (SmolLM2-135M, fp32): each iteration kept a 1.6 GB TRL checkpoint
(weights + AdamW state) next to its 517 MB model, 4.1 GB for two iterations. Neither is needed
once the stage is recorded:
  * trainer checkpoints (`checkpoints/`, `sft/checkpoints/`) only let an interrupted trainer
    resume; once `train_result.json` exists the stage is never re-run;
  * the warm-started model (`sft/model`) is GRPO's starting point, dead once GRPO finished;
  * iteration j's model is needed to probe iteration j and to start iteration j+1's training;
    once j+1's training finished, nothing reads it again.
`train.keep_trainer_checkpoints` and `train.keep_iteration_models` keep them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from looptool.train.config import TrainSettings


def tree_bytes(path: Path) -> int:
    """Bytes in the files under `path` (a hard-linked file counts in full wherever it appears)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def size_text(n: int) -> str:
    for unit, factor in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n} B"


def _remove(path: Path) -> int:
    if not path.exists():
        return 0
    size = tree_bytes(path)
    shutil.rmtree(path)
    return size


def release_stage_files(work_dir: Path, settings: TrainSettings, say: Callable[[str], Any] | None = None) -> int:
    """After a finished training stage: drop its checkpoints and the warm-start model. Bytes freed."""
    removed: list[tuple[Path, int]] = []
    if not settings.keep_trainer_checkpoints:
        for path in (work_dir / "checkpoints", work_dir / "sft" / "checkpoints"):
            removed.append((path, _remove(path)))
    if not settings.keep_iteration_models:
        removed.append((work_dir / "sft" / "model", _remove(work_dir / "sft" / "model")))
    removed = [(p, n) for p, n in removed if n]
    freed = sum(n for _, n in removed)
    if removed and say is not None:
        names = ", ".join(str(p.relative_to(work_dir)) for p, _ in removed)
        say(
            f"[train] removed {names} ({size_text(freed)}): resume needs none of them once the stage is recorded "
            "(train.keep_trainer_checkpoints / keep_iteration_models keep them)"
        )
    return freed


def prune_iteration_models(run_root: Path, iteration: int, settings: TrainSettings, console: Any = None) -> int:
    """Once iteration `iteration` has trained, drop the models of earlier iterations. Bytes freed.

    Only `<run>/iter_NN/train/model` directories are touched, never a model outside the run.
    `console`: a rich Console, a line callable, or None (stdout).
    """
    from looptool.train.process import console_sink

    if settings.keep_iteration_models:
        return 0
    freed = 0
    for earlier in range(1, iteration):
        freed += _remove(Path(run_root) / f"iter_{earlier:02d}" / "train" / "model")
    if freed:
        console_sink(console)(
            f"[train] removed the models of iterations 1-{iteration - 1} ({size_text(freed)}): iteration {iteration} "
            "has trained from them and resume needs only the newest (train.keep_iteration_models = true keeps them)"
        )
    return freed
