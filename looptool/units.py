"""Run a stage's units with bounded concurrency, durably and resumably, and decide when a stage is done.

A unit is one independent piece of work (a dialog, a sample to probe, a pair to judge). Its result
is appended to the stage's output file the moment it finishes; a rerun skips every unit whose id is
already there, so a killed stage resumes with nothing lost and nothing done twice. A fixed pool of
workers pulls from the unit iterator, so memory does not grow with the number of units.
Expected failures (`LoopToolError`: an endpoint gave up, a request was rejected) are recorded
against the unit in the stage's errors file and the stage goes on; anything else is a bug and
stops the stage. An error that dooms every other unit too (`stops_stage`, e.g. every endpoint of
a role refuses connections) stops the stage early: units not yet started are left for the rerun.

`StageRun` holds the one completion rule every stage wrapper applies: a stage is finished only
when every unit has a final record. Otherwise it is recorded as incomplete in the manifest with
its failed count and cause, and a rerun retries exactly the units without a record. Only
`RunStore.policy.allow_partial` lets the pipeline go on past such a stage, and the manifest then
marks the stage as partial.
"""

from __future__ import annotations

import contextvars
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sized
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from looptool.errors import LoopToolError, StageIncomplete, StorageError
from looptool.store.jsonl import JsonlWriter
from looptool.ui import ProgressReporter

if TYPE_CHECKING:
    from looptool.store.run import RunStore

U = TypeVar("U")


@dataclass
class UnitsSummary:
    total: int = 0
    skipped: int = 0
    completed: int = 0
    failed: int = 0
    not_started: int = 0  # left untouched after an early stop
    elapsed_s: float = 0.0
    failures_by_reason: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # reason -> one full error message
    stopped_early: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "units": self.total,
            "already_done": self.skipped,
            "completed_now": self.completed,
            "failed_now": self.failed,
            "elapsed_s": round(self.elapsed_s, 2),
            **{f"failed[{k}]": v for k, v in sorted(self.failures_by_reason.items())},
        }
        if self.stopped_early:
            out["not_started"] = self.not_started
            out["stopped_early"] = self.stopped_early
        return out


def failure_reason(error: BaseException) -> str:
    return str(getattr(error, "reason", None) or type(error).__name__)


# -- the completion rule -----------------------------------------------------------------------

_CURRENT: contextvars.ContextVar[StageRun | None] = contextvars.ContextVar("looptool_stage_run", default=None)


class StageRun:
    """One execution of one stage: collects the outcome of every `run_units` inside it and
    records the stage as finished, partial or incomplete. Use as a context manager; call
    `finish(**info)` at the end of the stage's body."""

    def __init__(self, store: RunStore, key: str) -> None:
        self.store = store
        self.key = key
        self.summaries: list[UnitsSummary] = []
        self._token: contextvars.Token[StageRun | None] | None = None

    def __enter__(self) -> StageRun:
        self.store.mark_started(self.key)
        self._token = _CURRENT.set(self)
        return self

    def __exit__(self, kind: Any, error: BaseException | None, tb: Any) -> None:
        if self._token is not None:
            _CURRENT.reset(self._token)
            self._token = None
        if isinstance(error, OSError):
            # A write the stage made itself (parquet, a samples file) failed: name where.
            where = error.filename or self.store.root / self.key
            raise StorageError(f"{self.key}: cannot write {where}: {error.strerror or error}") from error
        if isinstance(error, LoopToolError) and not isinstance(error, StageIncomplete):
            # The stage stopped on an error of its own (empty input, a trainer failure, ...):
            # say so in the manifest, so `looptool status` shows why the run is stuck here.
            try:
                self.store.mark_incomplete(
                    self.key, cause=str(error)[:2000], failed=self.failed, not_started=self.not_started, causes=dict(self.causes)
                )
            except StorageError:
                if not isinstance(error, StorageError):
                    raise  # a full disk says nothing about the error already on its way

    @property
    def failed(self) -> int:
        return sum(s.failed for s in self.summaries)

    @property
    def not_started(self) -> int:
        return sum(s.not_started for s in self.summaries)

    @property
    def causes(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for summary in self.summaries:
            total.update(summary.failures_by_reason)
        return total

    def cause(self) -> str:
        """What went wrong, for people: the early-stop reason, else the commonest failures with
        one full message (it names the endpoint URL)."""
        stopped = next((s.stopped_early for s in self.summaries if s.stopped_early), None)
        if stopped:
            return stopped
        examples = {k: v for s in self.summaries for k, v in s.examples.items()}
        parts = [f"{reason}: {count}" for reason, count in self.causes.most_common(3)]
        top = self.causes.most_common(1)
        if top and top[0][0] in examples:
            parts.append(f"e.g. {examples[top[0][0]][:300]}")
        return "; ".join(parts)

    def finish(self, **info: Any) -> dict[str, Any] | None:
        """Record the stage. Returns the partial-stage note (or None when every unit has a
        record); raises StageIncomplete when units are missing and partial stages are not allowed."""
        failed, not_started = self.failed, self.not_started
        if not failed and not not_started:
            self.store.mark_finished(self.key, **info)
            return None
        note = {"failed": failed, "not_started": not_started, "causes": dict(self.causes), "cause": self.cause()}
        if self.store.policy.allow_partial:
            self.store.mark_finished(self.key, partial=note, **info)
            return note
        self.store.mark_incomplete(self.key, counts=info.get("counts"), **note)
        missing = f"{failed} units failed" + (f", {not_started} not attempted" if not_started else "")
        raise StageIncomplete(
            f"{self.key} is incomplete: {missing} ({note['cause']}); see {self.key}/errors.jsonl. "
            "Fix the cause and rerun: finished units are kept and exactly the missing ones are retried "
            "(or pass --allow-partial to go on without them)"
        )


def current_stage() -> StageRun | None:
    return _CURRENT.get()


# -- running units -----------------------------------------------------------------------------


async def run_units(
    units: Iterable[tuple[str, U]],
    work: Callable[[str, U], Awaitable[dict[str, Any]]],
    *,
    out: JsonlWriter,
    errors: JsonlWriter | None = None,
    concurrency: int = 64,
    label: str = "units",
    total: int | None = None,
    already_done: int | None = None,
) -> UnitsSummary:
    """`work(unit_id, unit)` returns the record to store; its "id" is set to unit_id.
    `already_done` (for progress only) defaults to every record in `out`; pass the count of
    this call's units in `out` when they are a part of the file's (e.g. one round)."""
    summary = UnitsSummary()
    started = time.monotonic()
    if total is None and isinstance(units, Sized):
        total = len(units)
    stop = anyio.Event()
    fatal: list[StorageError] = []  # the run directory cannot be written: stop, do not count units

    def fresh() -> Iterator[tuple[str, U]]:
        for unit_id, unit in units:
            summary.total += 1
            if unit_id in out:
                summary.skipped += 1
                continue
            yield unit_id, unit

    iterator = fresh()
    with ProgressReporter(label, total, already_done=len(out.keys) if already_done is None else already_done) as progress:

        async def worker() -> None:
            for unit_id, unit in iterator:
                try:
                    record = await work(unit_id, unit)
                except StorageError as error:
                    fatal.append(error)
                    stop.set()
                    return
                except LoopToolError as error:
                    reason = failure_reason(error)
                    summary.failed += 1
                    summary.failures_by_reason[reason] += 1
                    summary.examples.setdefault(reason, str(error)[:2000])
                    if errors is not None:
                        try:
                            errors.write(
                                {
                                    "id": unit_id,
                                    "error": type(error).__name__,
                                    "reason": reason,
                                    "detail": str(error)[:2000],
                                    "at": time.time(),
                                }
                            )
                        except StorageError as storage:
                            fatal.append(storage)
                            stop.set()
                            return
                    progress.advance()
                    if getattr(error, "stops_stage", False):
                        summary.stopped_early = summary.stopped_early or str(error)[:2000]
                        stop.set()
                    if stop.is_set():
                        return
                    continue
                record = {**record, "id": unit_id}
                try:
                    out.write(record)
                except StorageError as error:
                    fatal.append(error)
                    stop.set()
                    return
                summary.completed += 1
                progress.advance()
                if stop.is_set():
                    return

        async with anyio.create_task_group() as group:
            for _ in range(max(1, concurrency)):
                group.start_soon(worker)
    if fatal:
        raise fatal[0]
    if summary.stopped_early:
        summary.not_started = sum(1 for _ in iterator)
    out.sync()
    if errors is not None:
        errors.sync()
    summary.elapsed_s = time.monotonic() - started
    stage = current_stage()
    if stage is not None:
        stage.summaries.append(summary)
    return summary
