"""`looptool status RUN`: where a run is, from its manifest and files alone."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from looptool.store.atomic import read_json
from looptool.ui import console


def print_status(run_dir: Path) -> int:
    manifest = read_json(Path(run_dir) / "manifest.json")
    if manifest is None:
        console.print(f"{run_dir}: no manifest.json: not a run directory, or nothing finished yet")
        return 1
    table = Table(title=f"run {run_dir}", header_style="bold")
    table.add_column("stage")
    table.add_column("finished at")
    table.add_column("counts")
    for key, info in manifest.get("stages", {}).items():
        counts = info.get("counts") or {}
        text = ", ".join(f"{k}={v}" for k, v in list(counts.items())[:8])
        table.add_row(key, str(info.get("finished_at", "")), text)
    console.print(table)
    nxt = manifest.get("next")
    if nxt:
        console.print(f"next: {nxt}")
    return 0
