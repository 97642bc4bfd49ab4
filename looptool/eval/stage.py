"""BFCL as a loop stage: evaluate the policy after an iteration, once, resumably.

The stage writes into `<run>/iter_XX/eval_bfcl/` and is recorded in the run manifest with its
headline numbers, so a finished evaluation is never repeated and `bfcl_curve` can draw the
per-iteration curve from the manifest alone. Items an endpoint gave up on (transient failures)
leave the stage incomplete, like any stage (looptool.units.StageRun): a rerun retries exactly
those items; with `--allow-partial` they count as wrong (as BFCL counts inference errors) and the
stage is marked partial.
"""

from __future__ import annotations

import re
from typing import Any

from looptool.eval.bfcl import BfclEvalSettings, evaluate_bfcl, headline_scores
from looptool.llm.client import LLMClient
from looptool.store.run import RunStore, iteration_key
from looptool.stages import Stage, StageContext, StageOutcome, run_stage

STAGE = "eval_bfcl"
_KEY = re.compile(r"^iter_(\d+)/" + STAGE + "$")


async def run_bfcl_stage(
    store: RunStore,
    client: LLMClient,
    iteration: int,
    settings: BfclEvalSettings | None = None,
    *,
    role: str = "policy",
) -> dict[str, float | None]:
    """Evaluate `role` for `iteration` (skipped when already finished); returns the headline."""
    headline: dict[str, float | None] = await run_stage(BfclStage(client, iteration, settings, role), StageContext(store))
    return headline


class BfclStage(Stage):
    """BFCL after one iteration. Items an endpoint gave up on leave the stage incomplete (the
    default completion rule); the caller prints the headline, so no counts table here."""

    show_summary = False
    skip_message = None

    def __init__(self, client: LLMClient, iteration: int, settings: BfclEvalSettings | None, role: str) -> None:
        self.client = client
        self.iteration = iteration
        self.key = iteration_key(iteration, STAGE)
        self.title = f"BFCL after iteration {iteration}"
        settings = settings or BfclEvalSettings()
        if settings.cache_salt is None:
            # Each iteration's checkpoint is served under the same model name; without a salt the
            # request cache would hand iteration j the answers of iteration j-1.
            settings = settings.model_copy(update={"cache_salt": f"iteration-{iteration}"})
        self.settings = settings
        self.role = role

    async def run(self, ctx: StageContext) -> StageOutcome:
        report = await evaluate_bfcl(self.client, self.role, ctx.store.stage_dir(self.key), self.settings, title=self.title)
        summary = report.summary
        unscored = sum(row["total"] - row["scored"] for row in summary["categories"].values())
        info = {
            "headline": report.headline,
            "items": summary["run"]["items"],
            "unscored": unscored,
            "format": summary["run"]["format"],
            "outputs": ["scores.json", "scores.md", "results.jsonl"],
        }
        return StageOutcome(info=info, value=report.headline)

    def skipped(self, info: dict[str, Any], ctx: StageContext) -> dict[str, float | None]:
        return headline_scores(ctx.store.root / self.key)


def bfcl_curve(store: RunStore) -> dict[int, dict[str, Any]]:
    """Iteration -> headline numbers (fractions) of every finished BFCL stage, in order."""
    curve = {}
    for key, info in store.manifest()["stages"].items():
        match = _KEY.match(key)
        if match and "headline" in info:
            curve[int(match.group(1))] = info["headline"]
    return dict(sorted(curve.items()))
