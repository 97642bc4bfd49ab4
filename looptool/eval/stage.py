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
from looptool.units import StageRun

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
    key = iteration_key(iteration, STAGE)
    out_dir = store.root / key
    if store.is_finished(key):
        return headline_scores(out_dir)
    settings = settings or BfclEvalSettings()
    if settings.cache_salt is None:
        # Each iteration's checkpoint is served under the same model name; without a salt the
        # request cache would hand iteration j the answers of iteration j-1.
        settings = settings.model_copy(update={"cache_salt": f"iteration-{iteration}"})
    with StageRun(store, key) as stage:  # items an endpoint gave up on leave the stage incomplete
        report = await evaluate_bfcl(
            client, role, store.stage_dir(key), settings, title=f"BFCL after iteration {iteration}",
        )
        summary = report.summary
        unscored = sum(row["total"] - row["scored"] for row in summary["categories"].values())
        stage.finish(
            headline=report.headline,
            items=summary["run"]["items"],
            unscored=unscored,
            format=summary["run"]["format"],
            outputs=["scores.json", "scores.md", "results.jsonl"],
        )
    return report.headline


def bfcl_curve(store: RunStore) -> dict[int, dict[str, Any]]:
    """Iteration -> headline numbers (fractions) of every finished BFCL stage, in order."""
    curve = {}
    for key, info in store.manifest()["stages"].items():
        match = _KEY.match(key)
        if match and "headline" in info:
            curve[int(match.group(1))] = info["headline"]
    return dict(sorted(curve.items()))
