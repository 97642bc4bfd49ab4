"""`looptool status [RUN]`: where a run is, from its manifest and files alone.

RUN is a run directory, a config file, or a preset name (`dryrun`); without it, the quickstart
preset's run directory, the same default as `looptool run`. Every count of a stage is shown
(wrapped to the terminal), floats rounded, a missing value as "-".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from looptool.config.load import load_config_or_preset
from looptool.errors import ConfigError
from looptool.store.atomic import read_json
from looptool.ui import console, fmt_value


ORDER = (
    "apis",
    "pool",
    "dialogs",
    "verify",
    "samples",
    "dataset",
    "train",
    "probe",
    "eval_bfcl",
    "eval_acebench",
    "judge",
    "expand",
    "compose",
)


def stage_order(key: str) -> tuple[int, int]:
    """Pipeline order: seed stages, then each iteration's stages in the order they run."""
    group, _, stage = key.partition("/")
    iteration = 0 if group == "seed" else int(group.removeprefix("iter_") or 0)
    return iteration, ORDER.index(stage) if stage in ORDER else len(ORDER)


def counts_text(counts: dict[str, Any]) -> str:
    """All of a stage's counts as `key=value`, rounded for reading."""
    return ", ".join(f"{key}={fmt_value(value)}" for key, value in counts.items())


def finished_text(stamp: str) -> str:
    """2025-12-02T01:23:45+0000 -> 2025-12-02 01:23 (the table has no room for seconds and zone)."""
    return stamp[:16].replace("T", " ") if len(stamp) >= 16 else stamp


def resolve_run_dir(target: str | None) -> Path:
    """The run directory meant by a directory, a config file or a preset name (None: quickstart)."""
    if target and Path(target).is_dir():
        return Path(target)
    if target and "/" in target and not Path(target).is_file():
        raise ConfigError(target, None, "not a run directory, a config file or a preset name")
    return load_config_or_preset(target).run_dir


def _missing(info: dict) -> str:
    """Failed count and cause of a stage whose units did not all finish."""
    parts = [f"failed={info.get('failed', 0)}"]
    if info.get("not_started"):
        parts.append(f"not_started={info['not_started']}")
    cause = info.get("cause")
    return ", ".join(parts) + (f" ({cause})" if cause else "")


def status_table(run_dir: Path, manifest: dict[str, Any]) -> Table:
    table = Table(title=escape(f"run {run_dir}"), header_style="bold")
    table.add_column("stage", no_wrap=True)
    table.add_column("finished", no_wrap=True)
    table.add_column("counts", overflow="fold")
    rows = [(key, info, False) for key, info in manifest.get("stages", {}).items()]
    rows += [(key, info, True) for key, info in manifest.get("incomplete", {}).items()]
    for key, info, incomplete in sorted(rows, key=lambda row: stage_order(row[0])):
        text = counts_text(info.get("counts") or {})
        if incomplete:
            table.add_row(escape(key), "[red]incomplete[/red]", escape(_missing(info) + (f"; {text}" if text else "")))
            continue
        when = escape(finished_text(str(info.get("finished_at", ""))))
        if info.get("partial"):
            when += " [yellow](partial)[/yellow]"
            text = _missing(info["partial"]) + (f"; {text}" if text else "")
        table.add_row(escape(key), when, escape(text))
    return table


def print_status(run_dir: Path) -> int:
    manifest = read_json(Path(run_dir) / "manifest.json")
    if manifest is None:
        console.print(f"{run_dir}: no manifest.json: not a run directory, or nothing finished yet", markup=False)
        return 1
    console.print(status_table(Path(run_dir), manifest))
    nxt = manifest.get("next")
    if nxt:
        console.print(f"next: {nxt}", markup=False)
    return 0
