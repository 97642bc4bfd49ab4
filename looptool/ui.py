"""Console output: live progress (done, rate, ETA) and end-of-stage summary tables.

On a terminal, progress is a rich live bar; in logs (CI, nohup) it becomes a plain line every few
seconds, so long runs stay readable in both places.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

console = Console(stderr=False, highlight=False)
if not console.is_terminal:
    console = Console(stderr=False, highlight=False, width=160)  # logs: do not squeeze tables to 80 columns


class ProgressReporter:
    def __init__(self, label: str, total: int | None, *, already_done: int = 0, log_every_s: float = 10.0) -> None:
        self.label = label
        self.total = total
        self.done = already_done
        self._session_done = 0
        self._started = time.monotonic()
        self._last_log = 0.0
        self._log_every = log_every_s
        self._live: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> "ProgressReporter":
        if console.is_terminal:
            self._live = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self._live.start()
            self._task = self._live.add_task(escape(self.label), total=self.total, completed=self.done, rate="")
        else:
            console.print(escape(f"{self.label}: starting ({self.done} already done{'' if self.total is None else f' of {self.total}'})"))
        return self

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self._started
        return self._session_done / elapsed if elapsed > 0 else 0.0

    def eta_s(self) -> float | None:
        if self.total is None or self.rate <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.rate)

    def advance(self, count: int = 1) -> None:
        self.done += count
        self._session_done += count
        if self._live is not None:
            self._live.update(self._task, completed=self.done, rate=f"{self.rate:.1f}/s")
            return
        now = time.monotonic()
        if now - self._last_log >= self._log_every:
            self._last_log = now
            console.print(escape(self.line()))

    def line(self) -> str:
        total = "?" if self.total is None else str(self.total)
        eta = self.eta_s()
        eta_text = "?" if eta is None else f"{eta:.0f}s"
        return f"{self.label}: {self.done}/{total} done, {self.rate:.2f}/s, ETA {eta_text}"

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
        else:
            console.print(escape(self.line()))


def summary_table(title: str, rows: dict[str, Any]) -> Table:
    table = Table(title=escape(title), show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in rows.items():
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        table.add_row(escape(str(key)), escape(text))
    return table


def client_stats_table(title: str, report: dict[str, Any]) -> Table:
    table = Table(title=escape(title), show_header=True, header_style="bold")
    headers = {
        "requests": "sent", "succeeded": "ok", "failed": "failed", "retries": "retries", "cache_hits": "cached",
        "prompt_tokens": "tok in", "completion_tokens": "tok out", "latency_ms_p50": "p50 ms", "latency_ms_p99": "p99 ms",
        "requests_per_s": "req/s",
    }
    columns = tuple(headers)
    table.add_column("role")
    for column in columns:
        table.add_column(headers[column], justify="right")
    for role, row in sorted(report.get("roles", {}).items()):
        table.add_row(escape(role), *(str(row.get(c, "")) for c in columns))
    total = report.get("total")
    if total:
        table.add_row("[bold]total", *(str(total.get(c, "")) for c in columns))
    return table


def print_stage_summary(title: str, counts: dict[str, Any], client_report: dict[str, Any] | None = None) -> None:
    console.print(summary_table(title, counts))
    if client_report and client_report.get("roles"):
        console.print(client_stats_table(f"{title}: LLM calls", client_report))
