"""Self-check of the BFCL evaluator: the simulator answers with BFCL's ground truth.

Why: before trusting scores of a real model, check the installation and the whole path
(prompting, the HTTP client, decoding, name mapping, multi-turn execution, bfcl's checker,
aggregation) on answers that are right by construction. Every item must pass except the data
bugs listed here; anything else is a bug in the evaluator (or a changed bfcl-eval).

Single-turn categories are checked together, so contradictory duplicates collide as they would
for a real model. Each multi-turn category gets its own oracle table: long_context and
miss_param repeat base's user messages with other initial states or ground truth, and a request
alone cannot tell them apart (a real model sees different tool results; the oracle answers
before seeing any).

    looptool eval bfcl-selfcheck --format native           # full set, both formats take ~2-4 min
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from looptool.config.models import ClientConfig, EndpointConfig
from looptool.eval.bfcl import BfclEvalSettings, BfclReport, evaluate_bfcl
from looptool.eval.bfcl_client import BfclWorker
from looptool.eval.categories import CATEGORIES, MULTI_TURN
from looptool.eval.oracle_table import OracleBuild, write_oracle_table
from looptool.llm.client import LLMClient
from looptool.sim.server import SimServer
from looptool.sim.settings import FaultPlan, ModelProfile, SimSettings
from looptool.store.jsonl import iter_jsonl

# Entries no model can pass (bfcl-eval 2026.3.23), with the reason.
UNPASSABLE: dict[str, str] = {
    "live_simple_106-63-0": "required `record.auto_loan_payment_start` accepts only [] (probably meant [[]])",
    "live_simple_112-68-0": "required `record.acc_routing_start` accepts only [] (probably meant [[]])",
    "live_multiple_507-149-4": "required `origin_airport` accepts only '' (omission), which a required parameter cannot be",
    "live_multiple_862-181-3": "the ground truth uses `journey_start_time`, which is not in the schema",
    "live_multiple_964-207-0": "the schema requires `statement`; the ground truth has only `question`",
}
# Identical (question, tools) labelled "call" in one category and "no call" in live_irrelevance:
# a model passes at most one of each pair; the oracle answers with the call.
CONTRADICTORY: dict[str, str] = {
    "live_irrelevance_118-7-8": "live_simple_29-7-2",
    "live_irrelevance_565-173-0": "live_multiple_262-125-1",
    "live_irrelevance_567-175-0": "live_simple_176-102-0",
}
KNOWN_FAILURES: frozenset[str] = frozenset(UNPASSABLE) | frozenset(CONTRADICTORY)


def oracle_batches(categories: list[str]) -> list[list[str]]:
    single = [c for c in categories if c not in MULTI_TURN]
    return ([single] if single else []) + [[c] for c in categories if c in MULTI_TURN]


class OracleBench:
    """One simulator, one engine client and one bfcl worker for a sequence of oracle runs."""

    def __init__(self, server: SimServer, client: LLMClient, worker: BfclWorker) -> None:
        self.server, self.client, self.worker = server, client, worker
        self.builds: list[OracleBuild] = []

    async def run(
        self,
        out_dir: Path,
        fmt: str,
        batches: list[list[str]],
        *,
        limit: int | None = None,
        ids: list[str] | None = None,
        wrong_call_rate: float = 0.0,
        faults: FaultPlan | None = None,
        concurrency: int = 48,
    ) -> BfclReport | None:
        """Evaluate each batch against its own oracle table into `out_dir/eval`; the last report."""
        report = None
        for batch in batches:
            selection = await self.worker.call("items", categories=batch, limit=limit, ids=ids)
            table = Path(out_dir) / f"oracle-{batch[0]}.jsonl"
            self.builds.append(await write_oracle_table(self.worker, selection["items"], table))
            self.server.state.settings = SimSettings(
                oracle_path=str(table),
                default_profile=ModelProfile(wrong_call_rate=wrong_call_rate),
                faults=faults or FaultPlan(),
            )
            settings = BfclEvalSettings(format=fmt, categories=batch, limit=limit, ids=ids, concurrency=concurrency)
            report = await evaluate_bfcl(self.client, "policy", Path(out_dir) / "eval", settings, worker=self.worker)
        return report

    @property
    def requests(self) -> int:
        return self.server.state.stats["requests"]


@dataclass
class SelfCheck:
    report: BfclReport
    failures: dict[str, str] = field(default_factory=dict)  # id -> error type
    unexpected: list[str] = field(default_factory=list)  # failed, but not a known data bug

    @property
    def ok(self) -> bool:
        return not self.unexpected


async def oracle_selfcheck(
    out_dir: Path,
    *,
    fmt: str = "paper",
    categories: list[str] | None = None,
    limit: int | None = None,
    python: Path | None = None,
    concurrency: int = 48,
) -> SelfCheck:
    """Run the oracle over the selection (resumable in `out_dir`) and compare with the known bugs."""
    out_dir = Path(out_dir)
    categories = list(categories or CATEGORIES)
    async with SimServer(SimSettings()) as server:
        client = LLMClient.from_endpoint_configs(
            {"sim": EndpointConfig(base_url=server.base_url, model="bfcl-oracle", max_concurrency=concurrency)},
            {"policy": ["sim"]},
            config=ClientConfig(cache=False),
        )
        async with client, BfclWorker(out_dir / "worker", python=python) as worker:
            bench = OracleBench(server, client, worker)
            await bench.run(out_dir, fmt, oracle_batches(categories), limit=limit, concurrency=concurrency)
            selected = (await worker.call("items", categories=categories, limit=limit))["items"]
            report = await evaluate_bfcl(
                client,
                "policy",
                out_dir / "eval",
                BfclEvalSettings(format=fmt, ids=[i["id"] for i in selected], concurrency=concurrency),
                worker=worker,
                title=f"BFCL oracle self-check ({fmt} format)",
            )
    wanted = {i["id"] for i in selected}
    failures: dict[str, Any] = {
        r["id"]: r.get("error_type") for r in iter_jsonl(out_dir / "eval" / "results.jsonl") if r.get("id") in wanted and not r.get("valid")
    }
    return SelfCheck(report=report, failures=failures, unexpected=sorted(set(failures) - KNOWN_FAILURES))
