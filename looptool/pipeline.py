"""`looptool run`: seed construction, then J loop iterations, in one resumable run directory."""

from __future__ import annotations

import time
from typing import Any

from looptool.config.load import LoadedConfig
from looptool.loop.runner import LoopRunner, Trainer, check_probe_target, policy_is_served_by_loop
from looptool.session import EngineSession
from looptool.store import ResumePolicy, RunStore
from looptool.synth.seed import SeedBuilder
from looptool.ui import console

ALL_ROLES = ["planner", "user", "assistant", "tool", "judge", "generator", "policy"]


async def run_all(loaded: LoadedConfig, *, trainer: Trainer | None = None, policy: ResumePolicy | None = None) -> dict[str, Any]:
    from looptool.config.resume import open_run_config

    loaded.require_roles(ALL_ROLES)
    check_probe_target(loaded)  # before seed construction: a wrong probe target is a config error
    started = time.monotonic()
    store = RunStore(loaded.run_dir, policy)
    with store:
        open_run_config(store, loaded)
        roles = [r for r in ALL_ROLES if not (r == "policy" and policy_is_served_by_loop(loaded))]
        async with EngineSession(loaded, cache_path=store.root / "cache" / "requests.sqlite", roles=roles) as session:
            store.mark_progress("seed construction")
            seed = await SeedBuilder(loaded, store, session).run("samples")
            rows = await LoopRunner(loaded, store, session, trainer).run()
    elapsed = time.monotonic() - started
    console.print(f"run finished in {elapsed:.0f} s: {store.root}")
    return {"seed": seed, "iterations": rows, "elapsed_s": elapsed}
