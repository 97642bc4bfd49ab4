"""ACEBench as a loop stage: evaluate the policy after an iteration, once, resumably.

The stage writes into `<run>/iter_XX/eval_acebench/` and is recorded in the run manifest with
its Table 2 numbers (both modes), so a finished evaluation is never repeated and
`acebench_curve` draws the per-iteration curve from the manifest alone, next to BFCL's. Items an
endpoint gave up on count as wrong; their number is recorded, and deleting the stage from the
manifest (`RunStore.forget`) makes a rerun retry exactly those items.
"""

from __future__ import annotations

import re
from typing import Any

from looptool.eval.acebench import evaluate_acebench, headline_scores
from looptool.eval.acebench_settings import AceBenchEvalSettings
from looptool.llm.client import LLMClient
from looptool.stages import Stage, StageContext, StageOutcome, run_stage
from looptool.store.run import RunStore, iteration_key

STAGE = "eval_acebench"
_KEY = re.compile(r"^iter_(\d+)/" + STAGE + "$")


async def run_acebench_stage(
    store: RunStore,
    client: LLMClient,
    iteration: int,
    settings: AceBenchEvalSettings | None = None,
    *,
    role: str = "policy",
    user_client: LLMClient | None = None,
) -> dict[str, float | None]:
    """Evaluate `role` for `iteration` (skipped when already finished); returns the headline.

    `user_client` holds the simulated user's role (agent_multi_turn) when `client` only serves
    the checkpoint."""
    stage = AceBenchStage(client, iteration, settings, role, user_client)
    headline: dict[str, float | None] = await run_stage(stage, StageContext(store))
    return headline


class AceBenchStage(Stage):
    """ACEBench after one iteration. Items an endpoint gave up on count as wrong (as ACEBench
    counts them), so the stage is finished with their number instead of left incomplete."""

    units_must_complete = False
    show_summary = False
    skip_message = None

    def __init__(
        self, client: LLMClient, iteration: int, settings: AceBenchEvalSettings | None, role: str, user_client: LLMClient | None
    ) -> None:
        self.client = client
        self.user_client = user_client
        self.key = iteration_key(iteration, STAGE)
        settings = settings or AceBenchEvalSettings()
        if settings.cache_salt is None:
            # Each iteration's checkpoint is served under the same model name; without a salt the
            # request cache would hand iteration j the answers of iteration j-1.
            settings = settings.model_copy(update={"cache_salt": f"iteration-{iteration}"})
        self.settings = settings
        self.role = role
        self.title = f"ACEBench ({settings.language}) after iteration {iteration}"

    async def run(self, ctx: StageContext) -> StageOutcome:
        report = await evaluate_acebench(
            self.client, self.role, ctx.store.stage_dir(self.key), self.settings, user_client=self.user_client, title=self.title
        )
        summary = report.summary
        rows = summary["modes"]["acebench"]["categories"].values()
        info = {
            "headline": report.headline,
            "items": summary["run"]["items"],
            "unscored": sum(row["total"] - row["scored"] for row in rows),
            "format": summary["run"]["format"],
            "language": summary["run"]["language"],
            "outputs": ["scores.json", "scores.md", "results.jsonl"],
        }
        return StageOutcome(info=info, value=report.headline)

    def skipped(self, info: dict[str, Any], ctx: StageContext) -> dict[str, float | None]:
        return headline_scores(ctx.store.root / self.key)


def acebench_curve(store: RunStore) -> dict[int, dict[str, Any]]:
    """Iteration -> Table 2 numbers (fractions, both modes) of every finished ACEBench stage, in order."""
    curve = {}
    for key, info in store.manifest()["stages"].items():
        match = _KEY.match(key)
        if match and "headline" in info:
            curve[int(match.group(1))] = info["headline"]
    return dict(sorted(curve.items()))
