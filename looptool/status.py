"""`looptool status RUN`: where a run is, from its manifest and files alone."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

from looptool.store.atomic import read_json
from looptool.ui import console


ORDER = ("apis", "pool", "dialogs", "verify", "samples", "dataset", "train", "probe", "eval_bfcl", "eval_acebench", "judge", "expand", "compose")


def stage_order(key: str) -> tuple[int, int]:
    """Pipeline order: seed stages, then each iteration's stages in the order they run."""
    group, _, stage = key.partition("/")
    iteration = 0 if group == "seed" else int(group.removeprefix("iter_") or 0)
    return iteration, ORDER.index(stage) if stage in ORDER else len(ORDER)


def _missing(info: dict) -> str:
    """Failed count and cause of a stage whose units did not all finish."""
    parts = [f"failed={info.get('failed', 0)}"]
    if info.get("not_started"):
        parts.append(f"not_started={info['not_started']}")
    cause = info.get("cause")
    return ", ".join(parts) + (f" ({cause})" if cause else "")


def print_status(run_dir: Path) -> int:
    manifest = read_json(Path(run_dir) / "manifest.json")
    if manifest is None:
        console.print(escape(f"{run_dir}: no manifest.json: not a run directory, or nothing finished yet"))
        return 1
    table = Table(title=escape(f"run {run_dir}"), header_style="bold")
    table.add_column("stage")
    table.add_column("finished at")
    table.add_column("counts")
    rows = [(key, info, False) for key, info in manifest.get("stages", {}).items()]
    rows += [(key, info, True) for key, info in manifest.get("incomplete", {}).items()]
    for key, info, incomplete in sorted(rows, key=lambda row: stage_order(row[0])):
        counts = info.get("counts") or {}
        text = ", ".join(f"{k}={v}" for k, v in list(counts.items())[:8])
        if incomplete:
            table.add_row(escape(key), "[red]incomplete[/red]", escape(_missing(info) + (f"; {text}" if text else "")))
            continue
        when = str(info.get("finished_at", ""))
        if info.get("partial"):
            when += " [yellow](partial)[/yellow]"
            text = _missing(info["partial"]) + (f"; {text}" if text else "")
        table.add_row(escape(key), when, escape(text))
    console.print(table)
    nxt = manifest.get("next")
    if nxt:
        console.print(escape(f"next: {nxt}"))
    return 0
