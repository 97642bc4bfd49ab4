"""Self-check of the ACEBench evaluator: the simulator answers with ACEBench's ground truth.

Why: before trusting scores of a real model, check the whole path (prompts, the HTTP client,
decoding, the agent loops on our backends, both checkers, aggregation) on answers that are right
by construction. In the `acebench` format every item must get the decision the official
evaluator makes on the same answer (tests/eval/data/acebench_official_*.jsonl); that is not 100%
(docs/eval.md lists why: whitespace removal in multi-turn answers, ground-truth typos, milestone
paths that do not reach their own ground-truth state).

    looptool eval acebench-selfcheck --format native --language zh
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from looptool.config.models import ClientConfig, EndpointConfig
from looptool.eval.acebench import AceBenchReport, evaluate_acebench, rescore
from looptool.eval.acebench_agent import AgentSettings
from looptool.eval.acebench_categories import CATEGORIES
from looptool.eval.acebench_data import AceItem, load_items
from looptool.eval.acebench_oracle import OracleBatch, build_tables
from looptool.eval.acebench_settings import AceBenchEvalSettings
from looptool.llm.client import LLMClient
from looptool.sim.server import SimServer
from looptool.sim.settings import FaultPlan, SimSettings
from looptool.store.jsonl import iter_jsonl


class AceOracleBench:
    """One simulator and one engine client for a sequence of oracle runs (roles policy and user)."""

    def __init__(self, server: SimServer, client: LLMClient) -> None:
        self.server, self.client = server, client
        self.batches: list[OracleBatch] = []

    async def run(
        self,
        out_dir: Path,
        items: list[AceItem],
        settings: AceBenchEvalSettings,
        *,
        wrong: bool = False,
        faults: FaultPlan | None = None,
    ) -> AceBenchReport:
        """Evaluate `items` against oracle tables (batch by batch) into `out_dir`; the report over all of them."""
        agent = AgentSettings(
            fmt=settings.format,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            cache_salt=settings.cache_salt,
            user_role=settings.user_role,
            max_messages=settings.max_dialog_messages,
        )
        batches = await build_tables(items, settings.format, Path(out_dir) / "oracle", wrong=wrong, settings=agent)
        self.batches.extend(batches)
        report = None
        for batch in batches:
            self.server.state.settings = SimSettings(oracle_path=str(batch.path), faults=faults or FaultPlan())
            report = await evaluate_acebench(self.client, "policy", Path(out_dir) / "eval", settings.model_copy(update={"ids": batch.ids}))
        if len(batches) > 1 or report is None:
            everything = settings.model_copy(update={"ids": [i.id for i in items]})
            report = rescore(Path(out_dir) / "eval", everything, f"ACEBench ({settings.language}) oracle ({settings.format} format)")
        return report

    @property
    def requests(self) -> int:
        return self.server.state.stats["requests"]


def oracle_client(base_url: str, concurrency: int = 48, **client: Any) -> LLMClient:
    return LLMClient.from_endpoint_configs(
        {"sim": EndpointConfig(base_url=base_url, model="acebench-oracle", max_concurrency=concurrency)},
        {"policy": ["sim"], "user": ["sim"]},
        config=ClientConfig(cache=False, **client),
    )


@dataclass
class AceSelfCheck:
    report: AceBenchReport
    failures: dict[str, dict[str, Any]]  # id -> the failing record's acebench verdict


async def acebench_selfcheck(
    out_dir: Path,
    *,
    fmt: str = "acebench",
    language: str = "en",
    categories: list[str] | None = None,
    limit: int | None = None,
    concurrency: int = 48,
) -> AceSelfCheck:
    """Run the oracle over the selection (resumable in `out_dir`); the report and every failure."""
    settings = AceBenchEvalSettings(
        format=fmt, language=language, categories=list(categories or CATEGORIES), limit=limit, concurrency=concurrency
    )
    items = load_items(settings.categories, language, limit=limit)
    async with SimServer(SimSettings()) as server:
        async with oracle_client(server.base_url, concurrency) as client:
            report = await AceOracleBench(server, client).run(Path(out_dir), items, settings)
    wanted = {i.id for i in items}
    failures = {
        r["id"]: r["acebench"]
        for r in iter_jsonl(Path(out_dir) / "eval" / "results.jsonl")
        if r.get("id") in wanted and not r["acebench"]["valid"]
    }
    return AceSelfCheck(report=report, failures=failures)
