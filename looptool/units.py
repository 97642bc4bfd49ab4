"""Run a stage's units with bounded concurrency, durably and resumably.

A unit is one independent piece of work (a dialog, a sample to probe, a pair to judge). Its result
is appended to the stage's output file the moment it finishes; a rerun skips every unit whose id is
already there, so a killed stage resumes with nothing lost and nothing done twice. A fixed pool of
workers pulls from the unit iterator, so memory does not grow with the number of units.
Expected failures (`LoopToolError`: an endpoint gave up, a model answered nonsense) are recorded
against the unit and the stage goes on; anything else is a bug and stops the stage.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sized
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio

from looptool.errors import LoopToolError, StageError
from looptool.store.jsonl import JsonlWriter
from looptool.ui import ProgressReporter

U = TypeVar("U")


@dataclass
class UnitsSummary:
    total: int = 0
    skipped: int = 0
    completed: int = 0
    failed: int = 0
    elapsed_s: float = 0.0
    failures_by_reason: Counter[str] = field(default_factory=Counter)

    def require(self, stage: str, max_failed_fraction: float = 0.0) -> None:
        """Stop the stage (unfinished, so a rerun retries the failed units) when too many failed.

        Failed units are not in the output file, so nothing already produced is lost either way."""
        done = self.skipped + self.completed + self.failed
        if self.failed and self.failed > max_failed_fraction * max(1, done):
            reasons = ", ".join(f"{k}: {v}" for k, v in self.failures_by_reason.most_common(3))
            raise StageError(
                f"{stage}: {self.failed} of {done} units failed ({reasons}); see {stage}/errors.jsonl, "
                "fix the cause (endpoint down? bad request?) and rerun: finished units are kept"
            )

    def as_dict(self) -> dict[str, Any]:
        return {
            "units": self.total,
            "already_done": self.skipped,
            "completed_now": self.completed,
            "failed_now": self.failed,
            "elapsed_s": round(self.elapsed_s, 2),
            **{f"failed[{k}]": v for k, v in sorted(self.failures_by_reason.items())},
        }


def failure_reason(error: BaseException) -> str:
    return str(getattr(error, "reason", None) or type(error).__name__)


async def run_units(
    units: Iterable[tuple[str, U]],
    work: Callable[[str, U], Awaitable[dict[str, Any]]],
    *,
    out: JsonlWriter,
    errors: JsonlWriter | None = None,
    concurrency: int = 64,
    label: str = "units",
    total: int | None = None,
) -> UnitsSummary:
    """`work(unit_id, unit)` returns the record to store; its "id" is set to unit_id."""
    summary = UnitsSummary()
    started = time.monotonic()
    if total is None and isinstance(units, Sized):
        total = len(units)

    def fresh() -> Iterator[tuple[str, U]]:
        for unit_id, unit in units:
            summary.total += 1
            if unit_id in out:
                summary.skipped += 1
                continue
            yield unit_id, unit

    iterator = fresh()
    with ProgressReporter(label, total, already_done=len(out.keys)) as progress:

        async def worker() -> None:
            for unit_id, unit in iterator:
                try:
                    record = await work(unit_id, unit)
                except LoopToolError as error:
                    summary.failed += 1
                    summary.failures_by_reason[failure_reason(error)] += 1
                    if errors is not None:
                        errors.write({"id": unit_id, "error": type(error).__name__, "reason": failure_reason(error), "detail": str(error)[:2000], "at": time.time()})
                    progress.advance()
                    continue
                record = {**record, "id": unit_id}
                out.write(record)
                summary.completed += 1
                progress.advance()

        async with anyio.create_task_group() as group:
            for _ in range(max(1, concurrency)):
                group.start_soon(worker)
    out.sync()
    if errors is not None:
        errors.sync()
    summary.elapsed_s = time.monotonic() - started
    return summary
