"""An engine session: the endpoints a config names, launched if needed, behind one client.

Stages receive a session and never care whether an endpoint is a remote vLLM cluster, a local
`vllm serve` the engine supervises, or the built-in simulator started for a dry run.
"""

from __future__ import annotations

import anyio

import contextlib
from pathlib import Path
from typing import Any

from looptool.config.load import LoadedConfig
from looptool.llm.client import LLMClient
from looptool.roles.caller import RoleCaller


class EngineSession:
    def __init__(
        self, loaded: LoadedConfig, *, cache_path: Path | None = None, roles: list[str] | None = None, log_dir: Path | None = None
    ) -> None:
        self.loaded = loaded
        self.cache_path = cache_path
        self.log_dir = log_dir or loaded.run_dir / "logs"
        self.roles = roles
        self._stack = contextlib.AsyncExitStack()
        self.client: LLMClient | None = None
        self.caller: RoleCaller | None = None
        self.base_urls: dict[str, str] = {}

    def endpoints_in_use(self) -> list[str]:
        config = self.loaded.config
        roles = self.roles if self.roles is not None else list(config.roles)
        names: list[str] = []
        for role in roles:
            for name in config.roles[role].endpoints:
                if name not in names:
                    names.append(name)
        return names

    async def __aenter__(self) -> EngineSession:
        config = self.loaded.config
        names = self.endpoints_in_use()
        sim_names = [n for n in names if config.endpoints[n].launch == "sim"]
        if sim_names:  # the simulator is imported only when a config uses it
            from looptool.sim.launch import launch_simulator

            self.base_urls.update(await launch_simulator(self._stack, self.loaded, sim_names))
        if any(config.endpoints[n].launch == "vllm" for n in names):
            from looptool.llm.launch import launch_servers

            self.log_dir.mkdir(parents=True, exist_ok=True)
            self.base_urls.update(await launch_servers(self._stack, self.loaded, names, self.log_dir))
        role_map = {r: config.roles[r].endpoints for r in (self.roles or config.roles)}
        reachable = [n for n in names if n in self.base_urls or config.endpoints[n].base_url]
        role_map = {r: [n for n in eps if n in reachable] for r, eps in role_map.items()}
        role_map = {r: eps for r, eps in role_map.items() if eps}
        self.client = LLMClient.from_endpoint_configs(
            {n: config.endpoints[n] for n in reachable},
            role_map,
            base_urls=self.base_urls,
            api_keys={n: self.loaded.api_key(n) for n in names},
            config=config.client,
            cache_path=self.cache_path,
        )
        self._stack.push_async_callback(self.client.aclose)
        self.caller = RoleCaller(self.client, self.loaded)
        return self

    async def hold(self, context: Any) -> Any:
        """Enter an async context manager that lives as long as the session (e.g. a worker)."""
        return await self._stack.enter_async_context(context)

    async def __aexit__(self, *exc: Any) -> None:
        with anyio.CancelScope(shield=True):  # servers are stopped even when the run is cancelled
            await self._stack.aclose()
