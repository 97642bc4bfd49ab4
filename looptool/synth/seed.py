"""Seed construction end to end: APIs -> tool pool -> dialogs -> verification -> step samples.

Each stage is recorded in the run manifest when its output is complete; a rerun skips finished
stages and resumes an interrupted one from its output file (nothing lost, nothing twice).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from looptool.config.load import LoadedConfig
from looptool.errors import StageError
from looptool.paths import runtime_python
from looptool.session import EngineSession
from looptool.store import JsonlWriter, ResumePolicy, RunStore, atomic_write_json, iter_jsonl, read_json
from looptool.store.atomic import atomic_write_lines
from looptool.synth import apis, pool, samples, verify
from looptool.synth.dialogs import STAGE as DIALOGS, DialogSimulator, draw_dialog
from looptool.synth.quality import seed_quality, write_quality_report
from rich.markup import escape

from looptool.ui import console
from looptool.stages import FunctionStage, StageContext, run_stage
from looptool.units import run_units

SAMPLES = "seed/samples"


def resolve_model_dir(loaded: LoadedConfig) -> Path | None:
    """The policy's initial model directory if it exists with a tokenizer (built-in names are not
    built here: prompt lengths are then measured by the trainer's own pre-flight)."""
    name = loaded.config.policy.init_model
    if name in ("smollm2", "tiny"):
        from looptool.models import model_dir

        path = model_dir(name)
    else:
        path = loaded.resolve_path(name)
    has_tokenizer = (path / "tokenizer.json").is_file() or (path / "tokenizer_config.json").is_file()
    return path if (path / "config.json").is_file() and has_tokenizer else None


class SeedBuilder:
    def __init__(self, loaded: LoadedConfig, store: RunStore, session: EngineSession) -> None:
        self.loaded = loaded
        self.store = store
        self.session = session
        self.settings = loaded.config.synth
        self.seed = loaded.config.run.seed

    @property
    def caller(self):
        assert self.session.caller is not None
        return self.session.caller

    async def _stage(self, key: str, title: str, body: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        assert self.session.client is not None
        stage = FunctionStage(key, title, body, skip_message="{key}: finished earlier ({finished_at}), skipped")
        counts: dict[str, Any] = await run_stage(stage, StageContext(self.store, self.session.client))
        return counts

    async def run(self, through: str = "samples") -> dict[str, dict[str, Any]]:
        order = ["apis", "pool", "dialogs", "verify", "samples"]
        results: dict[str, dict[str, Any]] = {}
        for name in order[: order.index(through) + 1]:
            results[name] = await getattr(self, name)()
        return results

    async def apis(self) -> dict[str, Any]:
        return await self._stage(apis.STAGE, "API synthesis", lambda: apis.synthesize_apis(self.caller, self.store, self.settings, self.seed))

    async def pool(self) -> dict[str, Any]:
        async def body() -> dict[str, Any]:
            return await anyio.to_thread.run_sync(lambda: pool.build_pool(self.store, self.settings, self.loaded.base_dir))

        return await self._stage(pool.STAGE, "tool pool", body)

    async def dialogs(self) -> dict[str, Any]:
        async def body() -> dict[str, Any]:
            groups = pool.by_domain(pool.load_pool(self.store))
            if not groups:
                raise StageError("the tool pool is empty: enable synth.pool.use_synthesized with synth.apis.attempts > 0, or import tools")
            simulator = DialogSimulator(self.caller, self.settings.dialogs, await self._backends())
            count = self.settings.dialogs.count
            units = ((f"d{i:06d}", i) for i in range(count))

            async def work(dialog_id: str, _: int) -> dict[str, Any]:
                return await simulator.run(dialog_id, draw_dialog(dialog_id, self.seed, groups, self.settings.dialogs))

            with JsonlWriter(self.store.path(DIALOGS, "dialogs.jsonl")) as out, JsonlWriter(self.store.path(DIALOGS, "errors.jsonl")) as errors:
                summary = await run_units(units, work, out=out, errors=errors, concurrency=self.settings.dialogs.concurrency, label="dialogs", total=count)
            statuses: dict[str, int] = {}
            turns = steps = 0
            for record in iter_jsonl(self.store.path(DIALOGS, "dialogs.jsonl")):
                statuses[record["status"]] = statuses.get(record["status"], 0) + 1
                turns += len(record["messages"])
                steps += sum(1 for step in record["steps"] if step.get("calls"))
            return {"dialogs": sum(statuses.values()), "messages": turns, "tool_call_steps": steps, "llm_failures": summary.failed, **{f"status[{k}]": v for k, v in sorted(statuses.items())}}

        return await self._stage(DIALOGS, "dialog simulation", body)

    async def _backends(self):
        from looptool.synth.backends import BackendRegistry

        registry = BackendRegistry()
        if self.settings.dialogs.executable_backends:
            from looptool.synth.bfcl_backend import maybe_bfcl_backend

            backend = await maybe_bfcl_backend(pool.load_pool(self.store), self.session, self.store.stage_dir("seed/dialogs") / "bfcl_worker")
            if backend is not None:
                registry.backends.append(backend)
        return registry

    async def verify(self) -> dict[str, Any]:
        async def body() -> dict[str, Any]:
            records = {r["id"]: r for r in iter_jsonl(self.store.path(DIALOGS, "dialogs.jsonl"))}
            out_path = self.store.path(verify.STAGE, "verdicts.jsonl")

            async def work(dialog_id: str, record: dict[str, Any]) -> dict[str, Any]:
                return await verify.verify_dialog(self.caller, record, self.settings.verify.judge, self.settings.verify)

            with JsonlWriter(out_path) as out, JsonlWriter(self.store.path(verify.STAGE, "errors.jsonl")) as errors:
                await run_units(records.items(), work, out=out, errors=errors, concurrency=self.settings.verify.concurrency, label="verification")
            verdicts = list(iter_jsonl(out_path))
            passed = [records[v["id"]] for v in verdicts if v.get("passed")]
            duplicates = verify.deduplicate(passed, self.settings.verify.near_duplicate_threshold)
            atomic_write_json(self.store.path(verify.STAGE, "duplicates.json"), duplicates)
            write_quality_report(self.store, verify.STAGE, seed_quality(verdicts, records, duplicates))
            return verify.verification_counts(verdicts, duplicates)

        return await self._stage(verify.STAGE, "verification", body)

    async def samples(self) -> dict[str, Any]:
        async def body() -> dict[str, Any]:
            return await anyio.to_thread.run_sync(self._export_samples)

        return await self._stage(SAMPLES, "step samples", body)

    def _export_samples(self) -> dict[str, Any]:
        from looptool.train.parquet import write_verl_parquet

        records = {r["id"]: r for r in iter_jsonl(self.store.path(DIALOGS, "dialogs.jsonl"))}
        duplicates = read_json(self.store.path(verify.STAGE, "duplicates.json"), default={})
        settings = self.settings.samples
        collected: list[samples.StepSample] = []
        for verdict in iter_jsonl(self.store.path(verify.STAGE, "verdicts.jsonl")):
            if verdict.get("passed") and verdict["id"] not in duplicates:
                collected.extend(samples.dialog_samples(records[verdict["id"]], verdict, settings))
        collected.sort(key=lambda s: s.id)
        jsonl_path = self.store.path(SAMPLES, "samples.jsonl")
        atomic_write_lines(jsonl_path, (sample.model_dump_json() + "\n" for sample in collected))
        model = resolve_model_dir(self.loaded)
        counter_python = runtime_python(self.loaded.config.policy.tokenizer_runtime)
        parquet_path = self.store.path(SAMPLES, "train.parquet")
        counts: dict[str, Any] = {
            "samples": len(collected),
            "call_samples": sum(1 for s in collected if s.label_calls),
            "text_samples": sum(1 for s in collected if not s.label_calls),
            "parallel_call_samples": sum(1 for s in collected if len(s.label_calls) > 1),
        }
        if model is not None and counter_python.exists():
            from looptool.train.tokencount import RuntimeTokenCounter

            with RuntimeTokenCounter(counter_python, model) as count:
                report = write_verl_parquet(collected, parquet_path, settings.data_source, max_prompt_tokens=settings.max_prompt_tokens, count_tokens=count)
            counts["overlong_filtered"] = len(report.filtered)
            counts["max_prompt_tokens"] = report.max_prompt_tokens_seen
            atomic_write_json(self.store.path(SAMPLES, "overlong.json"), [{"id": f.id, "prompt_tokens": f.prompt_tokens} for f in report.filtered])
        else:
            report = write_verl_parquet(collected, parquet_path, settings.data_source)
            counts["prompt_lengths"] = "not measured (policy tokenizer not built yet)"
        counts["parquet_rows"] = report.rows
        return counts


async def build_seed(loaded: LoadedConfig, through: str = "samples", policy: ResumePolicy | None = None) -> dict[str, dict[str, Any]]:
    from looptool.config.resume import open_run_config

    store = RunStore(loaded.run_dir, policy)
    with store:
        open_run_config(store, loaded)
        roles = ["planner", "user", "assistant", "tool", "judge", "generator"]
        loaded.require_roles(roles)
        async with EngineSession(loaded, cache_path=store.root / "cache" / "requests.sqlite", roles=roles) as session:
            results = await SeedBuilder(loaded, store, session).run(through)
    console.print(escape(f"seed set: {store.path(SAMPLES, 'samples.jsonl')}"))
    return results


def summary_json(results: dict[str, Any]) -> str:
    return json.dumps(results, indent=2, default=str)
