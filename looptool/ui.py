"""Console output: live progress (done, rate, ETA), waits that say what is happening, and tables.

On a terminal, progress is a rich live bar; in logs (CI, nohup) it becomes a plain line every few
seconds, so long runs stay readable in both places. Every table here fits 100 columns (tests
render them at that width): the wide ones use a border-less box, and numbers are rounded.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from rich import box
from rich.console import Console
from rich.errors import LiveError
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

WIDTH = 100

console = Console(stderr=False, highlight=False)
if not console.is_terminal:
    console = Console(stderr=False, highlight=False, width=WIDTH)  # logs: the width tables are built for

# Tables with many numeric columns: no vertical rules, so they fit 100 columns.
COMPACT_BOX = box.SIMPLE_HEAD


def elapsed_text(seconds: float) -> str:
    """12 s, 3 min 05 s, 1 h 02 min."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def fmt_value(value: Any) -> str:
    """A count or metric as a person reads it: 4 significant digits, '-' for a missing value."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def fmt_short(value: Any) -> str:
    """Table cells with little room: counts of 10,000 and more as 12.3k / 1.23M / 988M."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        for factor, unit in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
            if abs(value) >= factor:
                scaled = value / factor
                return f"{scaled:.3g}{unit}" if scaled < 1000 else f"{scaled:.0f}{unit}"
    if isinstance(value, float) and abs(value) >= 1000:
        return f"{value:.0f}"
    return fmt_value(value)


class ProgressReporter:
    def __init__(self, label: str, total: int | None, *, already_done: int = 0, log_every_s: float = 10.0) -> None:
        self.label = label
        self.total = total
        self.done = already_done
        self._session_done = 0
        self._started = time.monotonic()
        self._last_log = self._started  # the first periodic line comes after log_every_s, not at once
        self._log_every = log_every_s
        self._last_line: str | None = None
        self._live: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> ProgressReporter:
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
            console.print(
                f"{self.label}: starting ({self.done} already done{'' if self.total is None else f' of {self.total}'})", markup=False
            )
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
            self._print(self.line())

    def line(self) -> str:
        total = "?" if self.total is None else str(self.total)
        eta = self.eta_s()
        eta_text = "?" if eta is None else elapsed_text(eta)
        rate = f"{self.rate:.2f}/s" if self.rate >= 0.1 else f"{self.rate * 60:.1f}/min"
        return f"{self.label}: {self.done}/{total} done, {rate}, ETA {eta_text}"

    def _print(self, line: str) -> None:
        console.print(line, markup=False)
        self._last_line = line

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            return
        final = f"{self.label}: {self.done}/{'?' if self.total is None else self.total} done in {elapsed_text(time.monotonic() - self._started)}"
        if self._last_line is None or not self._last_line.startswith(f"{self.label}: {self.done}/"):
            self._print(final)


class Waiting:
    """A long wait that says what is happening and for how long.

    Terminal: a spinner with the elapsed time. Logs: a line at the start, then after `every_s`
    seconds and every doubling of the elapsed time since, and one at the end with the total.
    """

    def __init__(self, what: str, every_s: float = 15.0, out: Console | None = None, detail: str | None = None) -> None:
        self.what = what
        self.detail = detail
        self.every_s = every_s
        self.out = out or console
        self.started = time.monotonic()
        self._status: Any = None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def tick(self) -> None:
        if self._status is not None:
            self._status.update(f"{escape(self.what)} ({elapsed_text(self.elapsed())})")
        else:
            self.out.print(f"{self.what}: {elapsed_text(self.elapsed())} elapsed", markup=False)

    def start(self) -> None:
        self.started = time.monotonic()
        if self.out.is_terminal:
            try:
                self._status = self.out.status(escape(self.what))
                self._status.start()
                return
            except LiveError:  # another live display (a progress bar) owns the terminal
                self._status = None
        self.out.print(f"{self.what} ({self.detail}) ..." if self.detail else f"{self.what} ...", markup=False)

    def stop(self, ok: bool = True) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        outcome = "done" if ok else "failed"
        self.out.print(f"{self.what}: {outcome} after {elapsed_text(self.elapsed())}", markup=False)


@contextlib.asynccontextmanager
async def waiting(what: str, every_s: float = 15.0, out: Console | None = None, detail: str | None = None) -> AsyncIterator[Waiting]:
    """`async with waiting("vLLM server 'x': starting", detail="log ..."):` around anything slow.

    `detail` is shown on the first line only. The body's own exception comes out as itself, not
    wrapped in the ticker's task group.
    """
    wait = Waiting(what, every_s, out, detail)
    wait.start()
    ok = False

    async def ticker() -> None:
        pause = every_s
        while True:  # a spinner updates every second; log lines after 15 s, 30 s, 1 min, 2 min, ...
            await anyio.sleep(1.0 if wait._status is not None else pause)
            wait.tick()
            if wait._status is None:
                pause = wait.elapsed()

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(ticker)
            try:
                yield wait
                ok = True
            finally:
                group.cancel_scope.cancel()
    except BaseExceptionGroup as group_error:
        if len(group_error.exceptions) == 1:
            raise group_error.exceptions[0] from None
        raise
    finally:
        wait.stop(ok)


def summary_table(title: str, rows: dict[str, Any]) -> Table:
    table = Table(title=escape(title), show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in rows.items():
        table.add_row(escape(str(key)), escape(fmt_value(value)))
    return table


# Client counters as columns. "calls" are the role's calls (answered from the cache or over the
# wire, or failed); "sent" are HTTP attempts, retries included; so calls = cached + sent - retries.
CLIENT_COLUMNS = (
    ("calls", "calls"),
    ("cache_hits", "cached"),
    ("requests", "sent"),
    ("retries", "retries"),
    ("failed", "failed"),
    ("prompt_tokens", "tok in"),
    ("completion_tokens", "tok out"),
    ("latency_ms_p50", "p50 ms"),
    ("latency_ms_p99", "p99 ms"),
    ("requests_per_s", "calls/s"),
)
CLIENT_CAPTION = "calls = cached + sent - retries; sent = HTTP attempts"


def client_row(row: dict[str, Any]) -> dict[str, Any]:
    """A role's counters with the derived `calls` (succeeded includes cache hits)."""
    return {**row, "calls": int(row.get("succeeded", 0)) + int(row.get("failed", 0))}


def client_stats_table(title: str, report: dict[str, Any]) -> Table:
    table = Table(
        title=escape(title),
        show_header=True,
        header_style="bold",
        box=COMPACT_BOX,
        caption=CLIENT_CAPTION,
        show_edge=False,
        collapse_padding=True,
    )
    table.add_column("role")
    for _, label in CLIENT_COLUMNS:
        table.add_column(label, justify="right")
    for role, row in sorted(report.get("roles", {}).items()):
        row = client_row(row)
        table.add_row(escape(role), *(fmt_short(row.get(key)) for key, _ in CLIENT_COLUMNS))
    total = report.get("total")
    if total:
        total = client_row(total)
        table.add_row("[bold]total", *(fmt_short(total.get(key)) for key, _ in CLIENT_COLUMNS))
    return table


def print_stage_summary(title: str, counts: dict[str, Any], client_report: dict[str, Any] | None = None) -> None:
    console.print(summary_table(title, counts))
    if client_report and client_report.get("roles"):
        console.print(client_stats_table(f"{title}: LLM calls", client_report))
