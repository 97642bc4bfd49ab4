"""Seed construction end to end: APIs -> tool pool -> dialogs -> verification -> step samples.

Each stage is recorded in the run manifest when its output is complete; a rerun skips finished
stages and resumes an interrupted one from its output file (nothing lost, nothing twice).
"""

from __future__ import annotations

import json
from typing import Any

from rich.markup import escape

from looptool.config.load import LoadedConfig
from looptool.session import EngineSession
from looptool.stages import Stage, StageContext, run_stage
from looptool.store import ResumePolicy, RunStore
from looptool.synth import apis, pool, samples, verify
from looptool.synth.backends import BackendRegistry
from looptool.synth.dialogs import STAGE as DIALOGS
from looptool.synth.dialogs import DialogsStage
from looptool.synth.samples import STAGE as SAMPLES
from looptool.synth.samples import resolve_model_dir
from looptool.ui import console

__all__ = ["SAMPLES", "SeedBuilder", "build_seed", "resolve_model_dir", "summary_json"]


class SeedBuilder:
    """Seed construction as a list of stages, run in order through the one stage executor."""

    ORDER = ("apis", "pool", "dialogs", "verify", "samples")

    def __init__(self, loaded: LoadedConfig, store: RunStore, session: EngineSession) -> None:
        self.loaded = loaded
        self.store = store
        self.session = session
        self.settings = loaded.config.synth
        self.seed = loaded.config.run.seed

    def stages(self) -> dict[str, Stage]:
        caller, settings = self.session.caller, self.settings
        return {
            "apis": apis.ApisStage(caller, settings, self.seed),
            "pool": pool.PoolStage(settings, self.loaded.base_dir),
            "dialogs": DialogsStage(caller, settings.dialogs, self.seed, self._backends),
            "verify": verify.VerifyStage(caller, settings.verify, DIALOGS),
            "samples": samples.SamplesStage(self.loaded),
        }

    async def run(self, through: str = "samples") -> dict[str, dict[str, Any]]:
        assert self.session.client is not None
        context = StageContext(self.store, self.session.client)
        stages = self.stages()
        results: dict[str, dict[str, Any]] = {}
        for name in self.ORDER[: self.ORDER.index(through) + 1]:
            results[name] = await run_stage(stages[name], context)
        return results

    async def _backends(self) -> BackendRegistry:
        registry = BackendRegistry()
        if self.settings.dialogs.executable_backends:
            from looptool.synth.bfcl_backend import maybe_bfcl_backend

            backend = await maybe_bfcl_backend(pool.load_pool(self.store), self.session, self.store.stage_dir(DIALOGS) / "bfcl_worker")
            if backend is not None:
                registry.backends.append(backend)
        return registry


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
