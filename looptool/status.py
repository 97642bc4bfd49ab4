"""`looptool status RUN`: where a run is, from its manifest and files alone."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

from looptool.store.atomic import read_json
from looptool.ui import console


ORDER = ("apis", "pool", "dialogs", "verify", "samples", "dataset", "train", "probe", "eval_bfcl", "judge", "expand", "compose")


def stage_order(key: str) -> tuple[int, int]:
    """Pipeline order: seed stages, then each iteration's stages in the order they run."""
    group, _, stage = key.partition("/")
    iteration = 0 if group == "seed" else int(group.removeprefix("iter_") or 0)
    return iteration, ORDER.index(stage) if stage in ORDER else len(ORDER)


def print_status(run_dir: Path) -> int:
    manifest = read_json(Path(run_dir) / "manifest.json")
    if manifest is None:
        console.print(f"{run_dir}: no manifest.json: not a run directory, or nothing finished yet")
        return 1
    table = Table(title=f"run {run_dir}", header_style="bold")
    table.add_column("stage")
    table.add_column("finished at")
    table.add_column("counts")
    for key, info in sorted(manifest.get("stages", {}).items(), key=lambda item: stage_order(item[0])):
        counts = info.get("counts") or {}
        text = ", ".join(f"{k}={v}" for k, v in list(counts.items())[:8])
        table.add_row(escape(key), str(info.get("finished_at", "")), escape(text))
    console.print(table)
    nxt = manifest.get("next")
    if nxt:
        console.print(f"next: {nxt}")
    return 0
