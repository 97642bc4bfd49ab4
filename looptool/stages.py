"""The stage contract: what a stage is, and the one executor that runs every stage.

A stage is a key (its directory in the run and its entry in the manifest), a title (for people)
and `async run(ctx) -> StageOutcome`. The body does the work and nothing else; the executor
(`run_stage`) does the bookkeeping every stage shares, in one place:

  * a stage the manifest records as finished is skipped (`Stage.skipped` says what a skipped stage
    returns: its counts by default, a trainer's model directory, an evaluation's headline);
  * the LLM calls the stage makes are metered (a window over the client's stats) and saved under
    `stats/`;
  * the stage is recorded finished, partial or incomplete by `units.StageRun`, which holds the one
    completion rule (every unit has a final record), or finished outright for a stage whose
    failed units count as wrong answers (`units_must_complete = False`, the ACEBench evaluation).

Stages pass data to each other only through their run directory: a stage appends one record per
unit to a JSONL file (`units.run_units`, keyed by unit id, fsynced) and the manifest says when that
file is complete. That split is what lets a later stage consume another's records *while they are
being written* (the pipelined loop): a consumer follows the producer's file, reads each record the
moment it is appended, and ends when the producer's key appears in the manifest (the completion
marker, as in datatrove's executor). Records are keyed, so a consumer that is killed re-reads from
the start and skips the units it already has; no prompt depends on completion order, so results do
not depend on how far the producer had got. Today every consumer reads finished files only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from looptool.ui import console, print_stage_summary
from looptool.units import StageRun

if TYPE_CHECKING:
    from looptool.llm.client import LLMClient
    from looptool.store.run import RunStore


@dataclass
class StageOutcome:
    """What a stage body hands the executor: its counts (shown and recorded), further manifest
    fields (`info`: a model directory, a headline), and the value the caller gets back (`value`,
    the counts when None)."""

    counts: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    value: Any = None


@dataclass
class StageContext:
    """What the executor gives a stage: the run directory and the client to meter (None: the
    stage makes no LLM calls of its own, e.g. training or the tool pool)."""

    store: RunStore
    client: LLMClient | None = None


class Stage:
    """Subclass, or use `FunctionStage` for a body written as a closure."""

    key: str = ""
    title: str = ""
    #: False for a stage whose failed units count as wrong answers instead of leaving it incomplete.
    units_must_complete: bool = True
    #: Print the counts table after the stage (evaluations print their own scoreboard).
    show_summary: bool = True
    #: The message printed when the stage is skipped (None: say nothing).
    skip_message: str | None = "{key}: finished earlier, skipped"

    async def run(self, ctx: StageContext) -> StageOutcome:
        raise NotImplementedError

    def skipped(self, info: dict[str, Any], ctx: StageContext) -> Any:
        """The value a finished stage returns when it is skipped: its recorded counts."""
        return info.get("counts", {})


class FunctionStage(Stage):
    """A stage whose body is an async function returning its counts (or a full StageOutcome)."""

    def __init__(self, key: str, title: str, body: Callable[[], Awaitable[dict[str, Any] | StageOutcome]], **options: Any) -> None:
        self.key = key
        self.title = title
        self.body = body
        for name, value in options.items():
            if not hasattr(Stage, name):
                raise TypeError(f"unknown stage option {name!r}")
            setattr(self, name, value)

    async def run(self, ctx: StageContext) -> StageOutcome:
        result = await self.body()
        return result if isinstance(result, StageOutcome) else StageOutcome(counts=result)


async def run_stage(stage: Stage, ctx: StageContext) -> Any:
    """Run `stage` unless the manifest says it is finished; record how it ended."""
    info = ctx.store.stage_info(stage.key)
    if info is not None:
        if stage.skip_message:
            console.print(f"[dim]{stage.skip_message.format(key=stage.key, finished_at=info.get('finished_at'))}[/dim]")
        return stage.skipped(info, ctx)
    window = ctx.client.stats.window() if ctx.client is not None else None
    with StageRun(ctx.store, stage.key) as run:
        outcome = await stage.run(ctx)
        report = window.report() if window is not None else {}
        if report:
            ctx.store.save_stats(stage.key, report)
        if stage.show_summary:
            print_stage_summary(stage.title, outcome.counts or {}, report or None)
        fields: dict[str, Any] = {}
        if outcome.counts is not None:
            fields["counts"] = outcome.counts
        if window is not None:
            fields["llm"] = report.get("total")
        fields.update(outcome.info)
        if stage.units_must_complete:
            run.finish(**fields)
        else:
            ctx.store.mark_finished(stage.key, **fields)
    return outcome.counts if outcome.value is None else outcome.value
